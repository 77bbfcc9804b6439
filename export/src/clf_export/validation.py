"""Labelled texts for the validation gate: JSONL, CSV or TSV with text[, text_pair][, label] columns.

`clf-train` saves its validation split as JSONL in this shape; users may pass their own file.
Labels are optional: without them the gate checks agreement with PyTorch only.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clf_runtime.errors import InputError

# Used when there is no validation data at all, so the gate can still compare outputs.
FALLBACK_TEXTS = [
    "I would like a refund for my last order.",
    "The app crashes every time I open the settings page.",
    "Thanks, the support team was really helpful!",
    "Where is my package? It was supposed to arrive yesterday.",
    "How do I change the email address on my account?",
    "This is the worst service I have ever used.",
    "Can I pay with a credit card?",
    "ok",
    "",
    "The new update made everything much slower and the login button does nothing.",
]


@dataclass(frozen=True)
class ValidationSet:
    texts: list[Any]  # str, or (a, b) pairs
    labels: list[Any] | None  # str / list[str] / float per text, or None when unlabelled
    source: str


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not valid UTF-8 (byte {exc.start}): convert it to UTF-8") from exc
    if path.suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise InputError(f"{path}, line {number}: expected a JSON object")
            rows.append(row)
        return rows
    if path.suffix in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if path.suffix in (".tsv", ".txt") else ","
        return list(csv.DictReader(raw.splitlines(), delimiter=delimiter))
    raise InputError(f"{path}: unsupported validation file type {path.suffix!r}; use .jsonl, .csv or .tsv")


def load_validation(
    path: Path, task: str, labels: tuple[str, ...], text_pair: bool, limit: int
) -> ValidationSet:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"validation file {path} does not exist")
    rows = _rows(path)
    if not rows:
        raise InputError(f"validation file {path} has no rows")
    columns = set(rows[0])
    need = ["text", "text_pair"] if text_pair else ["text"]
    missing = [c for c in need if c not in columns]
    if missing:
        raise InputError(
            f"validation file {path} has no column {', '.join(missing)} "
            f"(found: {', '.join(sorted(columns))}); rename the columns to text[, text_pair], label"
        )
    if len(rows) > limit:
        # A seeded sample, not the first rows: data sets are often sorted by label.
        import random

        rows = random.Random(0).sample(rows, limit)
    texts = [(str(r["text"]), str(r["text_pair"])) if text_pair else str(r["text"]) for r in rows]
    if "label" not in columns:
        return ValidationSet(texts, None, str(path))
    known = set(labels)
    out: list[Any] = []
    for i, r in enumerate(rows):
        value = r["label"]
        if task == "regression":
            try:
                out.append(float(value))
            except (TypeError, ValueError):
                raise InputError(f"{path}, row {i + 1}: label {value!r} is not a number") from None
            continue
        if task == "multi_label":
            value = value if isinstance(value, list) else [v for v in str(value).split(";") if v]
            names = [str(v).strip() for v in value]
        else:
            names = [str(value).strip()]
        unknown = [v for v in names if v not in known]
        if unknown:
            raise InputError(
                f"{path}, row {i + 1}: label {unknown[0]!r} is not one of the model's labels "
                f"({', '.join(labels[:10])}{', ...' if len(labels) > 10 else ''})"
            )
        out.append(names if task == "multi_label" else names[0])
    return ValidationSet(texts, out, str(path))


def fallback(text_pair: bool) -> ValidationSet:
    texts: list[Any] = (
        list(zip(FALLBACK_TEXTS, reversed(FALLBACK_TEXTS), strict=True))
        if text_pair
        else list(FALLBACK_TEXTS)
    )
    return ValidationSet(texts, None, "built-in sample texts (no labels)")
