"""Where `clf-run --output` writes, so that no user data is lost whatever the path names.

- `-` is standard output.
- A symbolic link is written through: its target is replaced, the link stays.
- A regular file (or a new name) is written to a temporary file beside the target, on the same
  file system, and renamed over it when complete; an existing file keeps its permissions. If the
  rename fails because the target is a mount point of its own (EXDEV, EBUSY), the complete temporary
  file is copied into the target instead.
- A character device or a pipe (/dev/stdout, /dev/null, a FIFO) is written directly: there is
  nothing to rename over, and renaming over /dev/null would replace the device.
- The input file is never the output: writing would destroy it before it is read.
Every OSError becomes an InputError naming the path, and a failed write leaves no temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from clf_runtime.atomic import replace_file, temp_beside
from clf_runtime.errors import InputError


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def write_error(where: str, exc: OSError) -> InputError:
    hint = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EFBIG: "the file system or ulimit -f does not allow a file this large; write elsewhere",
        errno.EACCES: "choose a path you can write to",
        errno.EPERM: "choose a path you can write to",
        errno.EROFS: "choose a path on a writable file system",
    }.get(exc.errno or 0, "choose another output path")
    return InputError(f"cannot write {where}: {_why(exc)}; {hint}")


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_not_input(dest: Path, input_stat: os.stat_result | None) -> None:
    """Refuse an output that is the input file itself (directly, through a link or a hard link)."""
    if input_stat is None or not stat.S_ISREG(input_stat.st_mode):
        return
    with contextlib.suppress(OSError):
        if same_file(os.stat(dest), input_stat):
            raise InputError(
                f"--output {dest} is the input file: writing it would destroy the input; "
                "choose another output path"
            )


def _target(dest: Path) -> Path:
    """The path a write to `dest` should change: links followed, even a dangling one's target."""
    try:
        return Path(os.path.realpath(dest))
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot resolve --output {dest}: {exc}") from None


@contextlib.contextmanager
def open_output(dest: Path, input_stat: os.stat_result | None = None) -> Iterator[TextIO]:
    """A text stream onto `dest` that follows the rules in this module's docstring."""
    check_not_input(dest, input_stat)
    try:
        info: os.stat_result | None = os.stat(dest)  # follows links: /dev/stdout gives the pipe itself
    except FileNotFoundError:
        info = None  # a new file, or a link to one
    except OSError as exc:
        raise write_error(str(dest), exc) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise InputError(f"--output {dest} is a folder; give a file path for the output")
    # Devices and pipes, and anything named through /dev or /proc (/dev/stdout redirected to a file
    # opened with >> must be appended to, not replaced), are written as they are.
    if info is not None and (not stat.S_ISREG(info.st_mode) or str(dest).startswith(("/dev/", "/proc/"))):
        with _direct(dest) as f:
            yield f
        return
    with _replacing(dest, _target(dest), info) as f:
        yield f


@contextlib.contextmanager
def _direct(dest: Path) -> Iterator[TextIO]:
    try:
        f = open(dest, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as exc:
        raise write_error(str(dest), exc) from None
    try:
        with f:
            yield f
    except OSError as exc:
        raise write_error(str(dest), exc) from None


@contextlib.contextmanager
def _replacing(dest: Path, target: Path, info: os.stat_result | None) -> Iterator[TextIO]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A replaced file keeps its permissions; a new one gets the usual ones (umask applies).
        tmp = temp_beside(target, mode=stat.S_IMODE(info.st_mode) if info is not None else None)
    except OSError as exc:
        raise write_error(str(dest), exc) from None
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            yield f
        replace_file(tmp, target)
    except OSError as exc:
        raise write_error(str(dest), exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
