"""JSON lines and text lines that stay whole: written and read split at `\\n` only.

The writer escapes every line break a text may hold besides `\\n` (U+2028, U+2029, U+0085; JSON
already escapes \\r, \\f, \\v), and the readers split at `\\n` only, never `str.splitlines()`, so a
text holding one of them stays one row. clf-train's validation.jsonl, clf-eval's and clf-export's
input files are read with these.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clf_runtime.errors import InputError
from clf_runtime.oserrors import os_error_message

# Characters that str.splitlines() and some editors treat as line ends but JSON leaves unescaped.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def json_line(row: dict[str, Any]) -> str:
    """One JSONL line: readable non-ASCII, every line break inside strings escaped."""
    text = json.dumps(row, ensure_ascii=False, allow_nan=False)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)  # such characters occur only inside JSON strings
    return text + "\n"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json_line(row))


def text_lines(path: Path, action: str = "cannot read") -> Iterator[tuple[int, str]]:
    """(line number, line) for each non-blank line of a UTF-8 file, split at `\\n` only (a trailing
    `\\r` and a leading BOM dropped), so texts holding U+2028, U+0085 or form feeds stay whole."""
    path = Path(path)
    try:
        with open(path, "rb") as f:  # binary lines end at b"\n" only
            for number, raw in enumerate(f, start=1):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"{path}, line {number}: not valid UTF-8 (byte {exc.start + 1} of the line); "
                        "convert the file to UTF-8"
                    ) from None
                if line.strip():
                    yield number, line
    except OSError as exc:
        raise InputError(os_error_message(exc, action)) from exc


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line, split at `\\n` only."""
    for number, line in text_lines(path):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}, line {number}: expected a JSON object")
        yield number, row
