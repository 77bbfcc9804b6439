"""Temp-then-rename: how clf writes a file or folder that must appear complete or not at all.

Everything is written under a hidden temporary name beside the destination (`.tmp-NAME-*`, on the
same file system, so the final rename is atomic) and renamed into place only when the writer
finished without error. An interrupted run leaves at most a hidden `.tmp-*` entry, never something
that looks finished. `clf_runtime.output` (clf-run --output) writes files this way,
`clf_runtime.outdir` (the output folders of clf-train, clf-export and clf-batch) folders.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(dest: Path, *, folder: bool = False, mode: int | None = None, kind: str = ".tmp") -> Path:
    """A new, empty hidden file (or folder) `KIND-NAME-*` beside `dest`, on its file system.

    It gets `mode`, or the permissions a new file or folder gets (umask applied): mkstemp and
    mkdtemp make it private, and the result should not be. Raises the OSError of a failure.
    """
    parent = dest.parent
    prefix = f"{kind}-{dest.name}-"
    if folder:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=parent)
        os.close(fd)
        tmp = Path(name)
    try:
        os.chmod(tmp, mode if mode is not None else (0o777 if folder else 0o666) & ~current_umask())
    except BaseException:
        (os.rmdir if folder else os.unlink)(tmp)
        raise
    return tmp


def replace_file(tmp: Path, target: Path) -> None:
    """Rename the complete file `tmp` over `target`; where `target` is a mount point of its own
    (a bind mount: EXDEV, EBUSY), copy the content into it instead."""
    try:
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EBUSY):
            raise
        with open(tmp, "rb") as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)


def replace_folder(tmp: Path, dest: Path) -> None:
    """Put the folder `tmp` at `dest`; a previous `dest` is removed only once the new one is in place
    (the caller has checked that everything in it is clf's to remove)."""
    if not os.path.lexists(dest):
        os.rename(tmp, dest)
        return
    old = temp_beside(dest, folder=True, kind=".old")
    moved = old / "previous"
    try:
        os.rename(dest, moved)
    except BaseException:
        os.rmdir(old)
        raise
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(moved, dest)
        os.rmdir(old)
        raise
    try:
        shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(old, ignore_errors=True)
        raise
