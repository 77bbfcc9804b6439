"""Output folders of clf-train, clf-train compare, clf-export and clf-batch: written whole, never
destroying data.

Rules (the README's "Output folders"):
- A tool writes its output into a hidden temporary folder beside the destination and renames it
  into place only when it is complete; it then writes a marker, `.clf-output.json`, naming the tool
  and every file and folder it wrote.
- An existing destination is replaced only when it is empty, or when its marker says it is a
  previous output of the same tool. The output of another clf tool is replaced only with
  `overwrite=True` (`--overwrite`). A folder holding anything the marker does not list (a user's
  files, or any folder without a marker) is refused even with `overwrite`: clf never removes files
  it did not write.
- The current folder, a folder above it, `/`, a symbolic link, and a folder holding one of the
  run's inputs are refused.
- A replaced output is moved aside and removed only after the new one is in place; on any error
  (KeyboardInterrupt included) the temporary folder is removed, so no `.tmp-*`/`.old-*` is left.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from clf_runtime.atomic import replace_folder, temp_beside
from clf_runtime.errors import InputError
from clf_runtime.oserrors import os_error_message

MARKER_NAME = ".clf-output.json"
MARKER_FORMAT = "clf-output"
#: OS errors that mean "this location cannot take the output", whatever file they name.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM}


class OutputError(InputError):
    """The output folder cannot be written as asked; nothing was changed."""


def _marker(folder: Path) -> tuple[str, set[str]] | None:
    """(tool, entries) from the folder's marker, or None when it has no readable marker."""
    try:
        data = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    tool, entries = data.get("tool"), data.get("entries")
    if not isinstance(tool, str) or not isinstance(entries, list):
        return None
    return tool, {e for e in entries if isinstance(e, str)}


def output_owner(folder: Path) -> str | None:
    """The clf tool whose output `folder` is (by its marker), or None."""
    marker = _marker(Path(folder))
    return marker[0] if marker is not None else None


def _entries(folder: Path) -> Iterator[str]:
    """Relative paths of everything under `folder` (links are listed, never followed)."""

    def fail(exc: OSError) -> None:
        raise OutputError(os_error_message(exc, "cannot look into")) from exc

    for root, dirs, files in os.walk(folder, onerror=fail):
        rel = Path(root).relative_to(folder)
        for name in (*dirs, *files):
            entry = (rel / name).as_posix()
            if entry != MARKER_NAME:
                yield entry


def _foreign(folder: Path, known: set[str], limit: int = 3) -> list[str]:
    """Up to `limit` entries not in `known`, printable (a name may hold a newline)."""
    found = []
    for entry in _entries(folder):
        if entry not in known:
            found.append(entry if entry.isprintable() else ascii(entry))
            if len(found) >= limit:
                break
    return found


def _refuse_location(dest: Path, inputs: Iterable[Path | None]) -> None:
    resolved = dest.resolve()
    cwd = Path.cwd().resolve()
    if dest.name in ("", ".", "..") or resolved == cwd or resolved in cwd.parents:
        raise OutputError(
            f"--output {dest} is the current folder or one above it; give a new folder name, "
            "e.g. --output clf-out"
        )
    if dest.is_symlink():
        raise OutputError(f"--output {dest} is a symbolic link; give the real folder path")
    for path in inputs:
        if path is None:
            continue
        source = Path(path).resolve()
        if source == resolved or resolved in source.parents:
            raise OutputError(f"--output {dest} holds the input {path}; choose another output folder")


def _check_writable(dest: Path) -> None:
    ancestor = dest.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"--output {dest}: {ancestor} is not a folder; choose another output path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(
            f"--output {dest}: cannot write in {ancestor} (permission denied); choose another path"
        )


def check_output(dest: Path, tool: str, overwrite: bool = False, inputs: Iterable[Path | None] = ()) -> None:
    """Raise OutputError unless `tool` may write `dest` (call it before a long run, too)."""
    dest = Path(dest)
    _refuse_location(dest, inputs)
    if not dest.exists():
        _check_writable(dest)
        return
    if not dest.is_dir():
        raise OutputError(f"--output {dest} exists and is not a folder; choose another output path")
    marker = _marker(dest)
    if marker is None:
        foreign = _foreign(dest, set())
        if foreign:
            raise OutputError(
                f"--output {dest} is a folder that {tool} did not write (it holds {', '.join(foreign)}); "
                "clf never removes files it did not write: choose a new folder name"
            )
        return  # an empty folder
    owner, known = marker
    foreign = _foreign(dest, known)
    if foreign:
        raise OutputError(
            f"--output {dest} holds files {owner} did not write ({', '.join(foreign)}); clf never "
            "removes files it did not write: move them out or choose another output folder"
        )
    if owner != tool and not overwrite:
        raise OutputError(
            f"--output {dest} is the output of {owner}; pass --overwrite to replace it, "
            "or choose another output folder"
        )


def _write_marker(folder: Path, tool: str) -> None:
    entries = sorted(_entries(folder))
    data = {"format": MARKER_FORMAT, "format_version": 1, "tool": tool, "entries": entries}
    (folder / MARKER_NAME).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _make_temp(dest: Path) -> Path:
    parent = dest.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return temp_beside(dest.absolute(), folder=True)
    except OSError as exc:
        raise OutputError(os_error_message(exc, "cannot create the output folder in")) from exc


def _under(name: object, folder: Path) -> bool:
    path = Path(os.path.abspath(os.fsdecode(name)))  # type: ignore[arg-type]
    return path == folder or folder in path.parents


def _as_output_error(exc: OSError, tmp: Path, dest: Path) -> Exception:
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    folders = (tmp.absolute(), dest.absolute())
    ours = any(_under(n, f) for n in names for f in folders)
    if ours or (exc.errno in _WRITE_ERRNOS and not names):
        return OutputError(os_error_message(exc, "cannot write the output", name=dest))
    return exc


@contextlib.contextmanager
def output_folder(
    dest: Path, tool: str, overwrite: bool = False, inputs: Iterable[Path | None] = ()
) -> Iterator[Path]:
    """Yield an empty temporary folder to write into; on success it becomes `dest` (see above)."""
    dest = Path(dest)
    inputs = list(inputs)
    check_output(dest, tool, overwrite, inputs)
    tmp = _make_temp(dest)
    try:
        try:
            yield tmp
            _write_marker(tmp, tool)
            check_output(dest, tool, overwrite, inputs)  # it may have changed while we worked
            replace_folder(tmp, dest)  # everything in a replaced dest was listed in a clf marker
        except OSError as exc:
            converted = _as_output_error(exc, tmp, dest)
            if converted is exc:
                raise
            raise converted from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
