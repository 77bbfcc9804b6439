"""`clf-run FILE`: classify one text per line (tab-separated pairs for pair models)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from clf_runtime import providers
from clf_runtime.cli import model_option, user_errors
from clf_runtime.defaults import default_model_dir
from clf_runtime.formats import FORMATS


@dataclass(frozen=True)
class RunConfig:
    input: str  # a path, or "-" for standard input
    model: Path
    fmt: str = "text"
    top_k: int | None = None
    threshold: float | None = None
    batch_size: int = 32
    provider: str = "auto"
    threads: int | None = None
    output: Path | None = None


def run(config: RunConfig) -> int:
    """Classify config.input into config.output (or stdout). Returns the number of lines."""
    from clf_runtime.atomic import atomic_file
    from clf_runtime.classifier import TextClassifier
    from clf_runtime.errors import InputError
    from clf_runtime.stream import StreamOptions, classify_stream

    options = StreamOptions(
        fmt=config.fmt, top_k=config.top_k, threshold=config.threshold, batch_size=config.batch_size
    )
    if config.input == "-":
        source, name, size = sys.stdin.buffer, "stdin", None
    else:
        path = Path(config.input)
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise InputError(f"input file {path} {what}: give a text file, one text per line, or - for stdin")
        source, name, size = open(path, "rb"), str(path), path.stat().st_size  # noqa: SIM115
    try:
        clf = TextClassifier.load(config.model, provider=config.provider, threads=config.threads)
        if not clf.batch_independent and config.batch_size > 1 and sys.stderr.isatty():
            click.echo(
                f"note: this model ({clf.precision}, dynamic) can give a text slightly different scores "
                "depending on the other texts in its batch; re-export with clf-export --quantize "
                "int8-per-row or pass --batch-size 1 for answers that do not depend on batching",
                err=True,
            )
        show_bar = size is not None and sys.stderr.isatty()
        bar = click.progressbar(length=size, file=sys.stderr, label="classifying") if show_bar else None
        done = [0]

        def on_chunk(_: int) -> None:
            if bar is not None:
                pos = source.tell()
                bar.update(pos - done[0])
                done[0] = pos

        def go(sink) -> int:  # type: ignore[no-untyped-def]
            return classify_stream(clf, source, sink, options, name=name, on_chunk=on_chunk)

        if config.output is not None:
            with atomic_file(config.output) as sink:
                count = go(sink)
        else:
            count = go(sys.stdout)
            sys.stdout.flush()
        if bar is not None:
            bar.render_finish()
        return count
    finally:
        if source is not sys.stdin.buffer:
            source.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=str)
@model_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Show the k best labels.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Multi-label decision threshold (default: the manifest's).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--provider", type=click.Choice(providers.CHOICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write here (complete or not at all) instead of stdout.",
)
def main(
    file: str,
    model: Path | None,
    fmt: str,
    top_k: int | None,
    threshold: float | None,
    batch_size: int,
    provider: str,
    threads: int | None,
    output: Path | None,
) -> None:
    """Classify FILE, one text per line (two tab-separated texts for pair models); - reads stdin."""
    config = RunConfig(
        input=file,
        model=model if model is not None else default_model_dir(),
        fmt=fmt,
        top_k=top_k,
        threshold=threshold,
        batch_size=batch_size,
        provider=provider,
        threads=threads,
        output=output,
    )
    with user_errors():
        run(config)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
