"""`clf-run FILE`: classify one text per line (tab-separated pairs for pair models)."""

from __future__ import annotations

import contextlib
import math
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO, TextIO

import click

from clf_runtime import providers
from clf_runtime.cli import model_option, user_errors
from clf_runtime.defaults import default_model_dir
from clf_runtime.formats import FORMATS
from clf_runtime.long_text import STRATEGIES as LONG_TEXT_STRATEGIES


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
    long_text: str | None = None  # None: the manifest's strategy
    min_score: float | None = None


def _open_input(spec: str) -> tuple[BinaryIO, str, os.stat_result]:
    """The input as a binary stream, its name for messages, and its stat (pipes and devices work)."""
    from clf_runtime.errors import InputError

    if spec == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed: give a FILE to classify")
        source: BinaryIO = sys.stdin.buffer
        name = "stdin"
    else:
        name = spec
        try:
            source = open(spec, "rb")  # noqa: SIM115 - closed by run()
        except FileNotFoundError:
            raise InputError(
                f"input file {spec} does not exist: give a text file, one text per line, or - for stdin"
            ) from None
        except IsADirectoryError:
            raise InputError(f"input file {spec} is a folder: give a text file, one text per line") from None
        except OSError as exc:
            raise InputError(f"cannot read {spec}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):  # e.g. a stream without a descriptor under test runners
        info = os.stat_result((stat.S_IFIFO, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    if stat.S_ISDIR(info.st_mode):
        source.close()
        raise InputError(f"input {name} is a folder: give a text file, one text per line")
    return source, name, info


@contextlib.contextmanager
def _stdout() -> Iterator[TextIO]:
    """Standard output as UTF-8 text; a full or closed stdout is a one-line error, not a traceback."""
    from clf_runtime.errors import InputError
    from clf_runtime.output import write_error

    if sys.stdout is None:
        raise InputError("standard output is closed: pass --output FILE")
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    try:
        yield sys.stdout
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away (e.g. | head): user_errors ends quietly
    except OSError as exc:
        _discard_stdout()
        raise write_error("standard output", exc) from None


def _discard_stdout() -> None:
    # What is still buffered cannot be written; point fd 1 at /dev/null so that the interpreter's
    # final flush does not print a second error.
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def run(config: RunConfig) -> int:
    """Classify config.input into config.output (or stdout). Returns the number of lines."""
    from clf_runtime.classifier import TextClassifier
    from clf_runtime.output import check_not_input, open_output
    from clf_runtime.stream import StreamOptions, classify_stream

    # Every StreamOptions field that RunConfig has too (all but chunk_lines) comes from the config.
    options = StreamOptions(
        **{f.name: getattr(config, f.name) for f in fields(StreamOptions) if hasattr(config, f.name)}
    )
    output = None if config.output is None or str(config.output) == "-" else Path(config.output)
    source, name, info = _open_input(config.input)
    try:
        if output is not None:
            check_not_input(output, info)  # before loading: fail fast, and never truncate the input
        clf = TextClassifier.load(config.model, provider=config.provider, threads=config.threads)
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
        note_batch_dependence(clf, config.batch_size)
        show_bar = size is not None and sys.stderr is not None and sys.stderr.isatty()
        bar = click.progressbar(length=size, file=sys.stderr, label="classifying") if show_bar else None
        done = [0]

        def on_chunk(_: int) -> None:
            if bar is not None:
                pos = source.tell()
                bar.update(pos - done[0])
                done[0] = pos

        sink_cm = open_output(output, info) if output is not None else _stdout()
        with sink_cm as sink:
            count = classify_stream(clf, source, sink, options, name=name, on_chunk=on_chunk)
        if bar is not None:
            bar.render_finish()
        note_truncated(clf, count, config.long_text)
        return count
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def note_batch_dependence(clf, batch_size: int) -> None:  # type: ignore[no-untyped-def]
    """On a terminal, say when a text's scores can depend on its batch-mates, and how to avoid it."""
    if not clf.batch_independent and batch_size > 1 and sys.stderr is not None and sys.stderr.isatty():
        click.echo(
            f"note: this model ({clf.precision}, dynamic) can give a text slightly different scores "
            "depending on the other texts in its batch; re-export with clf-export --quantize "
            "int8 (scales fixed at export) or pass --batch-size 1 for answers that do not depend "
            "on batching",
            err=True,
        )


def _finite_threshold(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number from 0 to 1")
    return value


def note_truncated(clf, count: int, long_text: str | None) -> None:  # type: ignore[no-untyped-def]
    """Say on stderr how many inputs lost tokens to truncation, and how to keep them."""
    strategy = long_text or clf.manifest.long_text.strategy
    if strategy == "truncate" and clf.inputs_too_long:
        click.echo(
            f"clf-run: {clf.inputs_too_long} of {count} inputs were longer than max_length "
            f"({clf.manifest.max_length} tokens) and were truncated; --long-text windows or "
            "head-tail reads them whole",
            err=True,
        )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=str)
@model_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Show the k best labels.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    callback=_finite_threshold,
    help="Multi-label decision threshold (default: the manifest's).",
)
@click.option(
    "--long-text",
    type=click.Choice(LONG_TEXT_STRATEGIES),
    default=None,
    help="How to read texts longer than max_length (default: the manifest's, set in training).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=None,
    help="Single-label: output no label (-, null) when the top calibrated score is below this.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--provider", type=click.Choice(providers.CHOICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=None,
    help="Write here instead of stdout (- is stdout): a file is replaced only when complete.",
)
def main(
    file: str,
    model: Path | None,
    fmt: str,
    top_k: int | None,
    threshold: float | None,
    long_text: str | None,
    min_score: float | None,
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
        long_text=long_text,
        min_score=min_score,
    )
    with user_errors():
        run(config)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
