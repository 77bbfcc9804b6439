"""Output formats of `clf-run`: text, jsonl and csv, one row per input line."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from typing import Any

from clf_runtime.prediction import Prediction

FORMATS = ("text", "jsonl", "csv")


def _finite(obj: Any) -> Any:
    """obj with every NaN or infinity replaced by None, so that it stays valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json_row(p: Prediction, top_k: int | None) -> str:
    data = p.to_dict(top_k)
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or infinite score (e.g. an fp16 overflow): null, as JSON has no NaN
        return json.dumps(_finite(data), ensure_ascii=False)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _text_row(p: Prediction, top_k: int | None) -> str:
    if p.value is not None:
        return _fmt(p.value)
    if p.labels is not None:
        return f"{','.join(p.labels)}\t{_fmt(p.score or 0.0)}"
    if top_k:
        return "\t".join(f"{label}\t{_fmt(s)}" for label, s in p.top(top_k))
    return f"{p.label if p.label is not None else '-'}\t{_fmt(p.score or 0.0)}"  # -: abstained


def csv_header(task: str, labels: tuple[str, ...], top_k: int | None) -> list[str]:
    if task == "regression":
        return ["value"] if len(labels) == 1 else ["value", *labels]
    if task == "single_label" and top_k:
        return [f"{kind}_{i}" for i in range(1, top_k + 1) for kind in ("label", "score")]
    first = "labels" if task == "multi_label" else "label"
    return [first, "score", *labels]


def _csv_fields(p: Prediction, labels: tuple[str, ...], top_k: int | None) -> list[str]:
    if p.value is not None:
        return [_fmt(p.value)] + ([_fmt(p.scores[label]) for label in labels] if p.scores else [])
    if p.labels is None and top_k:
        return [x for label, s in p.top(top_k) for x in (label, _fmt(s))]
    first = ";".join(p.labels) if p.labels is not None else (p.label or "")
    return [first, _fmt(p.score or 0.0), *(_fmt(p.scores[label]) for label in labels)]


def formatter(
    fmt: str, task: str, labels: tuple[str, ...], top_k: int | None
) -> tuple[str | None, Callable[[Prediction], str]]:
    """A header line (or None) and a function from a prediction to one output line (no newline)."""
    if top_k is not None:
        top_k = min(top_k, len(labels))  # more than there are would give a header wider than the rows
    if fmt == "jsonl":
        return None, lambda p: _json_row(p, top_k)
    if fmt == "text":
        return None, lambda p: _text_row(p, top_k)
    if fmt == "csv":

        def one(fields: list[str]) -> str:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow(fields)
            return buf.getvalue()

        return one(csv_header(task, labels, top_k)), lambda p: one(_csv_fields(p, labels, top_k))
    raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
