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

from clf_export.validation_data import read_rows
from clf_runtime.errors import InputError
from clf_runtime.jsonl import text_lines

TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def _text_lines(path: Path, text_pair: bool) -> list[Any]:
    texts: list[Any] = []
    for number, line in text_lines(path, "cannot read the calibration file"):
        if text_pair:
            a, tab, b = line.partition("\t")
            if not tab:
                raise InputError(f"{path}, line {number}: a pair model needs 'text<TAB>text_pair'")
            texts.append((a, b))
        else:
            texts.append(line)
    return texts


def load_int8_texts(path: Path, text_pair: bool, limit: int) -> list[Any]:
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
