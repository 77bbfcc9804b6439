"""`clf-serve`: serve a clf model over HTTP (needs the extra: pip install 'clf-runtime[serve]')."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from clf_runtime import providers
from clf_runtime.artifact import PRECISIONS
from clf_runtime.cli import model_option, user_errors
from clf_runtime.defaults import default_model_dir
from clf_runtime.serve.config import ServeConfig

D = ServeConfig(model=Path("."))  # the defaults shown by --help


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@model_option
@click.option("--host", default=D.host, show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=D.port, show_default=True, help="0: a free one."
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=D.max_batch,
    show_default=True,
    help="Inputs per model call, gathered across concurrent requests (1: no batching).",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=D.max_wait_ms,
    show_default=True,
    help="How long a batch waits for inputs of requests already arriving.",
)
@click.option(
    "--max-inputs",
    type=click.IntRange(min=1),
    default=D.max_inputs,
    show_default=True,
    help="Inputs per request.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=D.max_body_bytes,
    show_default=True,
    help="Refuse larger request bodies (413), counted while they stream in.",
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=D.max_concurrent,
    show_default=True,
    help="/predict requests answered at once; more get 429.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=D.header_timeout_s,
    show_default=True,
    help="Seconds a request's headers may take to arrive (408 after).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=D.body_timeout_s,
    show_default=True,
    help="Seconds a request's body may take to arrive after its headers (408 after).",
)
@click.option(
    "--max-header-bytes",
    type=click.IntRange(min=256),
    default=D.max_header_bytes,
    show_default=True,
    help="Refuse larger request lines + headers (431).",
)
@click.option(
    "--max-headers",
    type=click.IntRange(min=1),
    default=D.max_headers,
    show_default=True,
    help="Refuse requests with more header lines (431).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="ONNX Runtime intra-op threads.")
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=D.min_score,
    show_default=True,
    help="Leave out labels with a lower probability (the best one stays).",
)
@click.option("--provider", type=click.Choice(providers.CHOICES), default=D.provider, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Override the variant the manifest picks for the provider.",
)
@click.option(
    "--api-key",
    envvar="CLF_API_KEY",
    default=None,
    show_envvar=True,
    help="Every route but the health checks needs 'Authorization: Bearer KEY' (prefer the env var: "
    "an option shows in the process list).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate (PEM), with --ssl-keyfile.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The certificate's private key (PEM).",
)
def main(
    model: Path | None,
    host: str,
    port: int,
    max_batch: int,
    max_wait_ms: float,
    max_inputs: int,
    max_body_bytes: int,
    max_concurrent: int,
    header_timeout: float,
    body_timeout: float,
    max_header_bytes: int,
    max_headers: int,
    threads: int | None,
    min_score: float,
    provider: str,
    precision: str | None,
    api_key: str | None,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
) -> None:
    """Serve a clf model over HTTP with text-embeddings-inference's routes: POST /predict (also / and
    /invocations), /tokenize, /decode; GET /health (also / and /ping), /info, /metrics, /openapi.json.
    Stops on SIGTERM or Ctrl-C after answering the requests in flight."""
    config = ServeConfig(
        model=model if model is not None else default_model_dir(),
        host=host,
        port=port,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_inputs=max_inputs,
        max_body_bytes=max_body_bytes,
        max_concurrent=max_concurrent,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        max_header_bytes=max_header_bytes,
        max_headers=max_headers,
        threads=threads,
        min_score=min_score,
        provider=provider,
        precision=precision,
        api_key=api_key,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    with user_errors():
        from clf_runtime.serve import serve

        serve(config)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
