"""The train -> export handoff: `clf_train.json` and `validation.jsonl`, each with its one reader and writer.

`clf-train` writes both into its output folder; `clf-export` reads them (and the tests' fixture
builder writes them the same way). Both are in the toolkit; this module needs nothing but the
standard library and the runtime (`clf_runtime.jsonl` writes and reads the lines).

`clf_train.json` (`TrainHandoff`):

| field | meaning |
|---|---|
| `format`, `format_version` | `"clf-train"`, `1`; other versions are refused with a message |
| `task` | `single_label`, `multi_label` or `regression` |
| `labels` | label names in the model's output order (equal to config.json's `id2label`) |
| `text_pair` | whether inputs are `(a, b)` pairs |
| `max_length` | truncation length used in training |
| `thresholds` | multi-label: one per label, tuned on validation; else null |
| `label_separator` | separates the labels of a multi-label row in CSV/TSV data |
| `metrics` | headline validation/test metrics (NaN written as null), copied into `metrics.train` |
| `long_text` | the long-text strategy (clf_runtime.long_text.LongText's JSON), null: truncate |
| `calibration` | the calibration fitted on validation (clf_runtime.calibration's JSON), or null |

`validation.jsonl`: one JSON object per line, `{"text": ..., ["text_pair": ...,] "label": ...}`
(label: a string, a list of strings for multi-label, a number for regression). Lines end with
`\\n` only; `clf_runtime.jsonl` writes them escaping every other line break a text may hold
(U+2028, U+2029, U+0085; JSON already escapes \\r, \\f, \\v), and reads them split at `\\n` only,
never `str.splitlines()`.
"""

from __future__ import annotations

import json
import math
import os
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clf_runtime.artifact import MAX_LENGTH_LIMIT, TASKS
from clf_runtime.errors import InputError
from clf_runtime.oserrors import os_error_message

__all__ = [
    "HANDOFF_NAME",
    "VALIDATION_NAME",
    "HandoffError",
    "TrainHandoff",
    "labelled_rows",
    "read_handoff",
    "write_handoff",
]

#: File `clf-train` writes beside the model to tell `clf-export` the task, inputs and max length.
HANDOFF_NAME = "clf_train.json"
#: Validation split `clf-train` saves in its output; `clf-export` gates on it by default.
VALIDATION_NAME = "validation.jsonl"
HANDOFF_FORMAT = "clf-train"
HANDOFF_VERSION = 1


class HandoffError(InputError):
    """A trained model folder's clf_train.json or validation.jsonl is unreadable or malformed."""


@dataclass(frozen=True)
class TrainHandoff:
    task: str
    labels: tuple[str, ...]
    text_pair: bool
    max_length: int
    thresholds: tuple[float, ...] | None = None
    label_separator: str = ";"
    metrics: dict[str, Any] = field(default_factory=dict)
    long_text: dict[str, Any] | None = None  # parsed by clf_runtime.long_text.LongText.from_json
    calibration: dict[str, Any] | None = None  # parsed by clf_runtime.calibration

    def __post_init__(self) -> None:
        _validate(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HANDOFF_FORMAT,
            "format_version": HANDOFF_VERSION,
            "task": self.task,
            "labels": list(self.labels),
            "text_pair": self.text_pair,
            "max_length": self.max_length,
            "thresholds": list(self.thresholds) if self.thresholds is not None else None,
            "label_separator": self.label_separator,
            "metrics": _finite(self.metrics),
        } | {k: v for k, v in (("long_text", self.long_text), ("calibration", self.calibration)) if v}

    @classmethod
    def from_json(cls, data: Any) -> TrainHandoff:
        """Strict: every field of the right type, no unknown fields, this format version."""
        source = HANDOFF_NAME
        if not isinstance(data, dict):
            raise HandoffError(f"{source}: expected a JSON object")
        if data.get("format") != HANDOFF_FORMAT or "format_version" not in data:
            raise HandoffError(f"{source} is not a clf-train handoff (no format {HANDOFF_FORMAT!r}); retrain")
        version = data["format_version"]
        if type(version) is not int or version != HANDOFF_VERSION:
            raise HandoffError(
                f"{source} has format_version {version!r}; this clf reads {HANDOFF_VERSION}: "
                "use the clf version that trained it, or retrain"
            )
        unknown = set(data) - {"format", "format_version", *cls.__dataclass_fields__}
        if unknown:
            raise HandoffError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
        missing = [k for k in ("task", "labels", "text_pair", "max_length") if k not in data]
        if missing:
            raise HandoffError(f"{source}: missing field(s) {', '.join(missing)}")
        labels, thresholds = data["labels"], data.get("thresholds")
        return cls(
            task=data["task"],
            labels=tuple(labels) if isinstance(labels, list) else labels,
            text_pair=data["text_pair"],
            max_length=data["max_length"],
            thresholds=tuple(thresholds) if isinstance(thresholds, list) else thresholds,
            label_separator=data.get("label_separator", ";"),
            metrics=data.get("metrics", {}),
            long_text=data.get("long_text"),
            calibration=data.get("calibration"),
        )


def _finite(value: Any) -> Any:
    """The value with NaN and infinities as None: strict JSON (a metric can be NaN, e.g. Pearson r
    on constant predictions)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _bad_label(label: Any) -> bool:
    if not isinstance(label, str) or not label.strip():
        return True
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in label)


def _validate(h: TrainHandoff) -> None:
    def fail(problem: str) -> None:
        raise HandoffError(f"{HANDOFF_NAME}: {problem}")

    if h.task not in TASKS:
        fail(f"task {h.task!r} is not one of {', '.join(TASKS)}")
    if not isinstance(h.labels, tuple) or not h.labels:
        fail("labels must be a non-empty list of strings")
    if any(_bad_label(x) for x in h.labels):
        fail("labels must be non-empty strings without control characters or line breaks")
    if len(set(h.labels)) != len(h.labels):
        fail("labels must be unique")
    if type(h.text_pair) is not bool:
        fail(f"text_pair must be true or false, not {h.text_pair!r}")
    if type(h.max_length) is not int or not 2 <= h.max_length <= MAX_LENGTH_LIMIT:
        fail(f"max_length must be an integer from 2 to {MAX_LENGTH_LIMIT}, not {h.max_length!r}")
    if h.thresholds is not None:
        ok = isinstance(h.thresholds, tuple) and all(
            type(t) in (int, float) and math.isfinite(t) and 0 <= t <= 1 for t in h.thresholds
        )
        if not ok or len(h.thresholds) != len(h.labels) or h.task != "multi_label":
            fail("thresholds must be null or, for multi_label, one number in [0, 1] per label")
    if not isinstance(h.label_separator, str) or not h.label_separator:
        fail("label_separator must be a non-empty string")
    if not isinstance(h.metrics, dict):
        fail("metrics must be an object")
    for name in ("long_text", "calibration"):
        if getattr(h, name) is not None and not isinstance(getattr(h, name), dict):
            fail(f"{name} must be an object or null")


def write_handoff(folder: Path, handoff: TrainHandoff) -> Path:
    path = Path(folder) / HANDOFF_NAME
    path.write_text(json.dumps(handoff.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_handoff(folder: Path) -> TrainHandoff | None:
    """The folder's clf_train.json, or None when it has none (a model not trained by clf-train)."""
    path = Path(folder) / HANDOFF_NAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise HandoffError(os_error_message(exc, "cannot read")) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise HandoffError(f"{path} is not valid JSON ({exc}); retrain or restore the file") from None
    try:
        return TrainHandoff.from_json(data)
    except HandoffError as exc:  # its messages start with the file name; say which folder
        raise HandoffError(f"{Path(folder)}{os.sep}{exc}") from None


def labelled_rows(
    texts: Iterable[str], pairs: Iterable[str] | None, labels: Iterable[Any]
) -> Iterator[dict[str, Any]]:
    """validation.jsonl's rows: text[, text_pair], label."""
    if pairs is None:
        for text, label in zip(texts, labels, strict=True):
            yield {"text": text, "label": label}
    else:
        for text, pair, label in zip(texts, pairs, labels, strict=True):
            yield {"text": text, "text_pair": pair, "label": label}
