"""Write a file so that it either appears complete or not at all (output folders: clf_runtime.outdir).

Everything is written under a temporary name beside the destination (same file system, so the
final rename is atomic) and renamed into place only when the writer finished without error.
An interrupted run leaves at most a hidden `.tmp-*` entry, never something that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from clf_runtime.errors import InputError


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_parent(dest: Path) -> Path:
    parent = dest.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {parent}: {exc.strerror}; choose another output path") from exc
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write to {parent}: permission denied; choose another output path")
    return parent


@contextlib.contextmanager
def atomic_file(dest: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Yield an open temporary file; on success it replaces `dest`, on error it is deleted."""
    dest = Path(dest)
    if dest.is_dir():
        raise InputError(f"{dest} is a folder; give a file path for the output")
    parent = _check_parent(dest)
    fd, name = tempfile.mkstemp(prefix=f".tmp-{dest.name}-", dir=parent)
    os.chmod(name, 0o666 & ~current_umask())
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
        os.replace(name, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
