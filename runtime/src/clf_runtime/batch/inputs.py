"""The inputs of clf-batch: table files found once each, and read as Arrow record batches.

Inputs are Parquet, CSV or JSONL files (by suffix, optionally compressed: `.csv.gz`), or folders
holding them; local paths or any URI pyarrow's file systems read (`s3://`, `gs://`, `hdfs://`).

Each input file is read once: local paths are compared as the files they resolve to, so a file
named twice (directly, through a link, a hard link, or a folder and a file in it) is read the first
time only, and a folder reached again through a link (a loop) is not entered again. Inside an input
folder, names starting with `_` or `.` are skipped, and so are the `--output` folder and any other
clf-batch output: clf-batch never reads its own results back. Every skip is listed in the run's
summary (`skipped`), which the CLI prints.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clf_runtime.arrow import import_pyarrow
from clf_runtime.batch.config import MARKER, TOOL
from clf_runtime.errors import InputError
from clf_runtime.oserrors import os_error_message
from clf_runtime.outdir import output_owner

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs

COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


@dataclass(frozen=True)
class InputFile:
    path: str  # as the file system names it
    fmt: str  # parquet, csv or json
    size: int
    fs: Any = field(repr=False, compare=False)  # pyarrow.fs.FileSystem
    uri: str = ""  # how engines other than local address it (a local path or the URI)


def file_format(name: str) -> str | None:
    base = name.lower()
    for ext in COMPRESSIONS:
        if base.endswith(ext):
            base = base[: -len(ext)]
    return SUFFIXES.get(os.path.splitext(base)[1])


def _filesystem(given: str) -> tuple[pyarrow.fs.FileSystem, str]:
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(given)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"cannot open {given}: {exc}") from exc


def find_inputs(
    inputs: Sequence[str], output: Path | None = None, skipped: list[str] | None = None
) -> list[InputFile]:
    """Expand files and folders into the table files to read, each once, folders in name order.

    `output` (the run's --output) is never read from; every file or folder left out is described
    in `skipped` ("PATH: why"), when given.
    """
    if not inputs:
        raise InputError("give at least one input file or folder")
    walk = _Walk(output, skipped if skipped is not None else [])
    for given in inputs:
        if "://" in given:
            walk.remote(given)
        else:
            walk.local(given)
    return walk.found


class _Walk:
    """The state of one `find_inputs`: what was found, and what was seen (to read each file once)."""

    def __init__(self, output: Path | None, skipped: list[str]) -> None:
        self.found: list[InputFile] = []
        self.skipped = skipped
        self.files: dict[tuple[int, int], str] = {}  # (device, inode) -> the path it was read as
        self.folders: set[tuple[int, int]] = set()
        self.uris: set[str] = set()
        self.repeats = 0  # files and folders skipped because they were read already
        self.output = _identity(os.path.abspath(output)) if output is not None else None
        self._fs: Any = None

    def skip(self, path: str, why: str) -> None:
        self.skipped.append(f"{path if path.isprintable() else ascii(path)}: {why}")

    def fs(self) -> pyarrow.fs.FileSystem:
        if self._fs is None:
            import pyarrow.fs as pafs

            self._fs = pafs.LocalFileSystem()
        return self._fs

    # --- local paths: walked with os, links followed once ---

    def local(self, given: str) -> None:
        path = os.path.abspath(given)
        info = _stat(path, given)
        if info is None:
            raise InputError(f"input {given} does not exist")
        if stat.S_ISDIR(info.st_mode):
            before, notes, repeats = len(self.found), len(self.skipped), self.repeats
            self.folder(path)
            if len(self.found) == before and self.repeats == repeats:  # not a folder named twice
                news = self.skipped[notes : notes + 3]
                why = f" (skipped: {'; '.join(news)})" if news else ""
                raise InputError(f"folder {given} holds no .parquet, .csv or .jsonl files to read{why}")
            return
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"input {given} is not a regular file or folder (a pipe, socket or device)")
        if file_format(os.path.basename(path)) is None:
            raise InputError(
                f"{given}: unknown file type; name files .parquet, .csv or .jsonl (optionally .gz)"
            )
        self.file(path, info)

    def file(self, path: str, info: os.stat_result) -> None:
        key = (info.st_dev, info.st_ino)
        if key in self.files:
            self.repeats += 1
            self.skip(path, f"the same file as {self.files[key]}, read once")
            return
        self.files[key] = path
        fmt = file_format(os.path.basename(path))
        assert fmt is not None
        self.found.append(InputFile(path, fmt, info.st_size, self.fs(), path))

    def folder(self, root: str) -> None:
        """Depth-first in name order, without recursion (a deep tree is no problem)."""
        stack: list[tuple[str, bool]] = [(root, True)]
        while stack:
            path, is_top = stack.pop()
            info = _stat(path, path)
            if info is None or not stat.S_ISDIR(info.st_mode):
                continue
            key = (info.st_dev, info.st_ino)
            if key in self.folders:
                self.repeats += 1
                self.skip(path, "a folder already read (a link back into the input: a loop or a duplicate)")
                continue
            self.folders.add(key)
            if key == self.output:
                self.skip(path, "the --output folder; clf-batch does not read its own output")
                continue
            if not is_top and _batch_output(path):
                self.skip(path, "an earlier clf-batch output; name it as an input to read it")
                continue
            try:
                names = sorted(os.listdir(path))
            except OSError as exc:
                raise InputError(os_error_message(exc, "cannot list the input folder")) from exc
            subfolders = []
            for name in names:
                if name.startswith(("_", ".")):
                    continue
                full = os.path.join(path, name)
                fmt = file_format(name)
                try:
                    entry = _stat(full, full)
                except InputError:
                    if fmt is not None:
                        raise
                    self.skip(full, "cannot be opened (a link to itself?)")
                    continue
                if entry is None:
                    if fmt is not None:  # a dangling link named like a table: data the user expects
                        raise InputError(
                            f"input {full} is a symbolic link to {os.readlink(full)}, which does not "
                            "exist; fix or remove the link"
                        )
                    continue
                if stat.S_ISDIR(entry.st_mode):
                    subfolders.append(full)
                elif fmt is None:
                    continue
                elif stat.S_ISREG(entry.st_mode):
                    self.file(full, entry)
                else:
                    self.skip(full, "not a regular file (a pipe, socket or device)")
            # Files of a folder first, then its subfolders in name order.
            stack.extend((sub, False) for sub in reversed(subfolders))

    # --- URIs: pyarrow's file system, each path once ---

    def remote(self, given: str) -> None:
        import pyarrow.fs as pafs

        fs, path = _filesystem(given)
        if isinstance(fs, pafs.LocalFileSystem):  # file://: a local path, walked as one
            self.local(path)
            return
        uri = given
        try:
            info = fs.get_file_info(path)
        except OSError as exc:
            raise InputError(f"cannot open {given}: {exc}") from exc
        if info.type == pafs.FileType.NotFound:
            raise InputError(f"input {given} does not exist")
        if info.type == pafs.FileType.File:
            fmt = file_format(info.base_name)
            if fmt is None:
                raise InputError(
                    f"{given}: unknown file type; name files .parquet, .csv or .jsonl (optionally .gz)"
                )
            self._add_remote(InputFile(path, fmt, info.size or 0, fs, uri))
            return
        try:
            entries = fs.get_file_info(pafs.FileSelector(path, recursive=True))
        except OSError as exc:
            raise InputError(f"cannot list {given}: {exc}") from exc
        before, repeats = len(self.found), self.repeats
        for entry in sorted(entries, key=lambda e: e.path):
            hidden = any(part.startswith(("_", ".")) for part in entry.path[len(path) :].split("/") if part)
            fmt = file_format(entry.base_name)
            if entry.type == pafs.FileType.File and fmt is not None and not hidden:
                sub = uri.rstrip("/") + entry.path[len(path) :]
                self._add_remote(InputFile(entry.path, fmt, entry.size or 0, fs, sub))
        if len(self.found) == before and self.repeats == repeats:
            raise InputError(f"folder {given} holds no .parquet, .csv or .jsonl files")

    def _add_remote(self, f: InputFile) -> None:
        if f.uri in self.uris:
            self.repeats += 1
            self.skip(f.uri, "named twice, read once")
            return
        self.uris.add(f.uri)
        self.found.append(f)


def _stat(path: str, given: str) -> os.stat_result | None:
    """os.stat (links followed); None when nothing is there (or a link points nowhere)."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP (a link to itself), EACCES, ENAMETOOLONG
        raise InputError(os_error_message(exc, "cannot open the input", name=given)) from exc


def _batch_output(folder: str) -> bool:
    """Whether `folder` is a clf-batch output (its marker, or the summary of clf-batch before it)."""
    return output_owner(Path(folder)) == TOOL or os.path.isfile(os.path.join(folder, MARKER))


def _identity(path: str) -> tuple[int, int] | None:
    with contextlib.suppress(OSError):
        info = os.stat(path)
        return (info.st_dev, info.st_ino)
    return None


def _read_error(f: InputFile, exc: Exception) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    kind = {"json": "JSON lines", "csv": "CSV", "parquet": "Parquet"}[f.fmt]
    return InputError(f"{f.uri}: cannot read it as {kind} ({first}); check the file or its suffix")


def read_batches(
    f: InputFile, rows: int, on_bytes: Callable[[int], None] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream a file's record batches; `on_bytes(n)` reports how far into the file reading got."""
    pa = import_pyarrow()
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    try:
        if f.fmt == "parquet":
            source = f.fs.open_input_file(f.path)
            reader = pq.ParquetFile(source)
            total = max(1, reader.metadata.num_rows)
            done = 0
            for batch in reader.iter_batches(batch_size=rows):
                done += batch.num_rows
                if on_bytes:
                    on_bytes(int(f.size * done / total))
                yield batch
            return
        source = f.fs.open_input_stream(f.path, compression="detect")
        if f.fmt == "csv":  # quoted fields may hold newlines (RFC 4180), as texts often do
            reader = pacsv.open_csv(source, parse_options=pacsv.ParseOptions(newlines_in_values=True))
        else:
            reader = pajson.open_json(source)
        for batch in reader:
            if on_bytes:
                with contextlib.suppress(OSError, ValueError):
                    on_bytes(min(f.size, source.tell()))
            yield batch
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _read_error(f, exc) from exc
