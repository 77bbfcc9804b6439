"""One-line messages for the operating system's errors (OSError): what failed and what to do.

Library code wraps an OSError it expects (reading a data file, writing an output folder) as
`InputError(os_error_message(exc, "cannot read"))`; the train and export commands turn any other
OSError into the same kind of line (see clf_runtime.cli.user_errors).
"""

from __future__ import annotations

import errno

_FIXES = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.ENOSPC: "free some disk space or choose another location",
    errno.EDQUOT: "free some of your disk quota or choose another location",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.EFBIG: "the file is too large for this file system; choose another location",
    errno.EISDIR: "it is a folder; give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EXDEV: "choose a location on the same file system",
    errno.EIO: "the device reported an I/O error; check the disk",
}


def os_error_message(exc: OSError, action: str = "cannot access", name: object = None) -> str:
    """`"<action> <file>: <reason>; <fix>"`, e.g. "cannot write out/model.onnx: No space left ...".

    `name` replaces the file the error names (e.g. the output folder instead of a temporary file).
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    if name is None:
        name = exc.filename if exc.filename is not None else ""
    where = f" {name}" if name != "" else ""
    fix = _FIXES.get(exc.errno or -1)
    return f"{action}{where}: {reason}" + (f"; {fix}" if fix else "")
