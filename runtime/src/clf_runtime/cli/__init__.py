"""Command-line entry points. Each module is one command: click options, a frozen config, a library call."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from clf_runtime.defaults import MODEL_ENV
from clf_runtime.errors import ClfError

#: The --model option of every runtime command (None means $CLF_MODEL, else ./clf-model).
model_option = click.option(
    "--model",
    "-m",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Artifact folder from clf-export. Default: ${MODEL_ENV}, else ./clf-model.",
)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's errors into click's one-line 'Error: ...' and exit status 1."""
    try:
        yield
    except ClfError as exc:
        raise click.ClickException(str(exc)) from None
    except BrokenPipeError:
        # `clf-run big.txt | head` closes our stdout early; that is not an error.
        with contextlib.suppress(Exception):
            sys.stdout = None  # type: ignore[assignment]
        raise SystemExit(0) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted") from None
