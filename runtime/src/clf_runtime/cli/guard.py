"""`command_errors()`: what clf-train and clf-export run under, so a user never sees a traceback.

On top of `user_errors()` (clf's own errors, Ctrl-C, a closed pipe) it turns what the operating
system can cause anywhere in a long run (an OSError: permission, disk full, read-only file system;
a file that is not UTF-8) into one line and exit status 1. `CLF_DEBUG=1` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import click

from clf_runtime.cli import user_errors
from clf_runtime.oserrors import os_error_message

DEBUG_ENV = "CLF_DEBUG"


@contextlib.contextmanager
def command_errors() -> Iterator[None]:
    if os.environ.get(DEBUG_ENV) == "1":
        yield
        return
    try:
        with user_errors():
            yield
    except OSError as exc:
        raise click.ClickException(os_error_message(exc, "failed on")) from None
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"a file is not valid UTF-8 (byte {exc.start}: {exc.reason}); convert it to UTF-8"
        ) from None
