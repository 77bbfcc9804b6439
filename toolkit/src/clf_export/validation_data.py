"""Labelled texts for the validation gate: JSONL, CSV or TSV with text[, text_pair][, label] columns.

`clf-train` saves its validation split as JSONL in this shape (clf_train.handoff); users
may pass their own file. Labels are optional: without them the gate checks agreement with PyTorch
only. Files are split into lines at \n (and \r for CSV) only, so texts holding U+2028, U+0085 or
form feeds stay whole.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clf_export.errors import ExportWarning
from clf_runtime.errors import InputError
from clf_runtime.jsonl import read_jsonl
from clf_runtime.oserrors import os_error_message

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


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        # newline="": the csv module's own line handling (quoted fields may hold line breaks).
        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f, delimiter=delimiter))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not valid UTF-8 (byte {exc.start}): convert it to UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"cannot parse {path}: {exc}") from None
    except OSError as exc:
        raise InputError(os_error_message(exc, "cannot read")) from exc


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL, CSV or TSV file as dicts (column -> value)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; pass a .jsonl, .csv or .tsv file")
    if not path.exists():
        raise InputError(f"{path} does not exist; check the path")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return [row for _, row in read_jsonl(path)]
    if suffix in (".csv", ".tsv", ".txt"):
        return _csv_rows(path)
    raise InputError(f"{path}: unsupported validation file type {path.suffix!r}; use .jsonl, .csv or .tsv")


def load_validation(
    path: Path, task: str, labels: tuple[str, ...], text_pair: bool, limit: int, separator: str = ";"
) -> ValidationSet:
    """`separator` splits multi-label labels given as text (CSV); JSONL gives them as lists."""
    path = Path(path)
    rows = read_rows(path)
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
            value = (
                value if isinstance(value, list) else [v for v in str(value).split(separator) if v.strip()]
            )
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


def validation_set(
    path: Path | None, task: str, labels: tuple[str, ...], text_pair: bool, limit: int, separator: str
) -> ValidationSet:
    """The gate's data: the file at `path`, else the built-in texts (unlabelled), with a warning."""
    if path is None:
        warnings.warn(
            "no labelled validation data (pass --validation): the gate checks agreement with "
            "PyTorch on a few built-in texts only",
            ExportWarning,
            stacklevel=2,
        )
        return fallback(text_pair)
    return load_validation(path, task, labels, text_pair, limit, separator)


def fallback(text_pair: bool) -> ValidationSet:
    texts: list[Any] = (
        list(zip(FALLBACK_TEXTS, reversed(FALLBACK_TEXTS), strict=True))
        if text_pair
        else list(FALLBACK_TEXTS)
    )
    return ValidationSet(texts, None, "built-in sample texts (no labels)")
