"""Command-line entry points. Each module is one command: click options, a frozen config, a library call."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import click

from clf_runtime.defaults import MODEL_ENV
from clf_runtime.errors import ClfError, CpuWarning

#: The --model option of every runtime command (None means $CLF_MODEL, else ./clf-model).
model_option = click.option(
    "--model",
    "-m",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Artifact folder from clf-export. Default: ${MODEL_ENV}, else ./clf-model.",
)


DEBUG_ENV = "CLF_DEBUG"


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every error into click's one-line 'Error: ...' and exit status 1.

    The project's own errors carry their message and fix; an OSError or anything unexpected is
    shown on one line too. CLF_DEBUG=1 lets unexpected errors through with their traceback.
    clf's own warnings (a CPU that computes the int8 model differently) are one stderr line each.
    """
    try:
        with one_line_warnings():
            yield
    except ClfError as exc:
        raise click.ClickException(str(exc)) from None
    except BrokenPipeError:
        # `clf-run big.txt | head` closes our stdout early; that is not an error. Point stdout at
        # /dev/null so that the interpreter's final flush does not complain either.
        with contextlib.suppress(Exception):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted") from None
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        if isinstance(exc, OSError):
            from clf_runtime.oserrors import os_error_message

            raise click.ClickException(os_error_message(exc, "failed on")) from None
        if isinstance(exc, UnicodeDecodeError):
            raise click.ClickException(
                f"a file is not valid UTF-8 (byte {exc.start}: {exc.reason}); convert it to UTF-8"
            ) from None
        text = " ".join(str(exc).split())[:300]
        raise click.ClickException(
            f"unexpected {type(exc).__name__}: {text} (set {DEBUG_ENV}=1 to see the traceback)"
        ) from None


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show each CpuWarning as one line on stderr ("clf-run: warning: ..."); others as Python does."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if not issubclass(category, CpuWarning):
            return original(message, category, filename, lineno, file, line)
        click.echo(f"{os.path.basename(sys.argv[0]) or 'clf'}: warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default", CpuWarning)
        warnings.showwarning = show
        yield
