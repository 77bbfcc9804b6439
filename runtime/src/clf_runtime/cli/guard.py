"""`command_errors()`: what clf-train and clf-export run under, so a user never sees a traceback.

It is `user_errors()`: clf's own errors, Ctrl-C and a closed pipe, plus what the operating system can
cause anywhere in a long run (an OSError: permission, disk full, read-only file system; a file that
is not UTF-8) as one line and exit status 1. `CLF_DEBUG=1` shows the traceback instead.
"""

from __future__ import annotations

from clf_runtime.cli import user_errors

command_errors = user_errors
