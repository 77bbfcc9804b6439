"""Texts to calibrate static int8 ranges on (`--calibration`): no labels needed.

A plain text file (any suffix but .jsonl/.json/.csv/.tsv) has one text per line, as `clf-run`
reads it: pair models take `a<TAB>b`. Lines end at \\n only (a trailing \\r is dropped), so texts
holding U+2028, U+0085 or form feeds stay whole; empty lines are skipped. JSONL, CSV and TSV files
are read as for the gate (a `text` column, and `text_pair` for pair models).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from clf_export.validation import read_rows
from clf_runtime.errors import InputError
from clf_runtime.oserrors import os_error_message

TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def _text_lines(path: Path, text_pair: bool) -> list[Any]:
    texts: list[Any] = []
    try:
        with open(path, "rb") as f:  # binary lines end at b"\n" only
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\n").rstrip("\r")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"{path}, line {number}: not valid UTF-8 (byte {exc.start + 1} of the line); "
                        "convert the file to UTF-8"
                    ) from None
                if not line.strip():
                    continue
                if text_pair:
                    a, tab, b = line.partition("\t")
                    if not tab:
                        raise InputError(f"{path}, line {number}: a pair model needs 'text<TAB>text_pair'")
                    texts.append((a, b))
                else:
                    texts.append(line)
    except OSError as exc:
        raise InputError(os_error_message(exc, "cannot read the calibration file")) from exc
    return texts


def load_calibration(path: Path, text_pair: bool, limit: int) -> list[Any]:
    """At most `limit` texts (a seeded sample when there are more), str or (a, b) pairs."""
    path = Path(path)
    texts: list[Any]
    if path.is_dir():
        raise InputError(f"--calibration {path} is a folder; pass a text, JSONL or CSV file")
    if not path.exists():
        raise InputError(f"--calibration {path} does not exist; check the path")
    if path.suffix.lower() in TABLE_SUFFIXES:
        rows = read_rows(path)
        need = ("text", "text_pair") if text_pair else ("text",)
        if not rows or any(c not in rows[0] for c in need):
            raise InputError(f"{path}: needs a column {' and '.join(need)}, or pass one text per line")
        texts = [(str(r["text"]), str(r["text_pair"])) if text_pair else str(r["text"]) for r in rows]
    else:
        texts = _text_lines(path, text_pair)
    if not texts:
        raise InputError(f"--calibration {path} holds no texts")
    if len(texts) > limit:
        texts = random.Random(0).sample(texts, limit)  # seeded: data sets are often sorted by label
    return texts
