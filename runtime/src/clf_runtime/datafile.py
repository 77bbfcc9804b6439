"""Reading a labelled data file without pandas: the file types clf-train reads, as columns of values.

CSV (`,`), TSV and `.txt` (tab) with a header row, every value a string (nothing becomes NaN, as
clf-train reads them); JSONL (`.jsonl`, `.json`: one object per line, split at `\\n` only); Parquet
with pyarrow (the `batch` extra). A CSV/TSV row with more or fewer fields than the header is kept
and named in `Table.malformed`, never dropped unseen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clf_runtime.errors import InputError
from clf_runtime.jsonl import read_jsonl
from clf_runtime.oserrors import os_error_message

#: The suffixes of the data files clf-train and clf-eval read, in the same way.
SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")


def data_file_suffix(path: Path, what: str) -> str:
    """The suffix of a data file to read, after refusing a missing path, a folder, a file type not in
    SUFFIXES and an empty file; `what` names the file in messages ("test file", "data file")."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{path} is a folder; pass a CSV, TSV, JSONL or Parquet file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise InputError(os_error_message(exc, f"cannot read the {what}")) from exc
    if empty:
        raise InputError(f"{what} {path} is empty")
    return suffix


@dataclass(frozen=True)
class Table:
    """A data file's columns (name -> one value per data row) and its malformed rows."""

    columns: dict[str, list[Any]]
    rows: int
    # Data row number (1: the first row after the header) -> what is wrong with it.
    malformed: dict[int, str] = field(default_factory=dict)


def read_table(path: Path) -> Table:
    """The file's rows; InputError (one line) when it is missing, empty, unreadable or unparsable."""
    path = Path(path)
    suffix = data_file_suffix(path, "test file")
    try:
        if suffix == ".parquet":
            table = _read_parquet(path)
        elif suffix in (".jsonl", ".json"):
            table = _read_jsonl(path)
        else:
            table = _read_delimited(path, "\t" if suffix in (".tsv", ".txt") else ",")
    except OSError as exc:
        raise InputError(os_error_message(exc, "cannot read the test file")) from exc
    if table.rows == 0:
        raise InputError(f"test file {path} has no data rows")
    return table


def _read_delimited(path: Path, delimiter: str) -> Table:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not valid UTF-8 (byte {exc.start}): convert it to UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next((row for row in reader if row), None)
        if header is None:
            raise InputError(f"test file {path} has no header row")
        rows = [row for row in reader if row]  # blank lines are skipped, as pandas does
    except csv.Error as exc:
        raise InputError(f"cannot parse {path}, line {reader.line_num}: {exc}") from None
    names = list(dict.fromkeys(header))  # a repeated column name: its first column
    where = {name: header.index(name) for name in names}
    malformed = {
        number: f"{len(row)} fields where the header has {len(header)}"
        for number, row in enumerate(rows, start=1)
        if len(row) != len(header)
    }
    columns = {name: [row[i] if i < len(row) else None for row in rows] for name, i in where.items()}
    return Table(columns, len(rows), malformed)


def _read_jsonl(path: Path) -> Table:
    objects = [row for _, row in read_jsonl(path)]
    names: dict[str, None] = {}
    for row in objects:
        names.update(dict.fromkeys(row))
    columns = {name: [row.get(name) for row in objects] for name in names}
    return Table(columns, len(objects))


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(f'reading {path.name} needs pyarrow: pip install "clf-runtime[batch]"') from exc
    try:
        data = pq.read_table(path).to_pydict()
    except OSError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid and kin: not a Parquet file, or damaged
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot parse {path}: {first}") from None
    rows = len(next(iter(data.values()))) if data else 0
    return Table({str(k): v for k, v in data.items()}, rows)
