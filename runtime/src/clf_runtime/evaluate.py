"""Scoring an artifact on a labelled test file: what `clf-eval` computes, as one JSON-ready dict.

Steps: read the file (clf_runtime.datafile), check each row's text and label against the model
(`load_rows`: a row with an empty or malformed label, no text, or a label the model does not know
is set aside and counted, never dropped unseen), classify the rest with `TextClassifier.predict`
(the manifest's long-text strategy, calibration and thresholds, as clf-run applies them), then the
task's metrics (clf_runtime.metrics). `compare` puts a second artifact beside the first on the same
rows. Rendering (text, Markdown, plots) is clf_runtime.eval_report's.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clf_runtime import metrics as M
from clf_runtime.calibration import check_min_score, ece
from clf_runtime.classifier import TextClassifier, TextInput
from clf_runtime.datafile import Table, read_table
from clf_runtime.errors import InputError
from clf_runtime.prediction import Prediction
from clf_runtime.timing import median_ms

#: Score levels of the coverage table (single-label), besides the --min-score asked for.
COVERAGE_LEVELS = (0.5, 0.7, 0.9)
#: How many of the longest inputs (by characters) are timed alone to find the slowest ones, per
#: input asked for: the time of a text grows with its tokens, which grow with its characters.
SLOWEST_CANDIDATES = 4


@dataclass(frozen=True)
class EvalConfig:
    """How to read the test file and run the model (the CLI's options; defaults as clf-train's)."""

    text_column: str = "text"
    pair_column: str | None = None
    label_column: str = "label"
    label_separator: str = ";"
    batch_size: int = 32
    long_text: str | None = None  # None: the manifest's strategy
    min_score: float | None = None
    strict: bool = False  # any set-aside row is an error
    slowest: int = 5  # inputs to time alone; 0: none
    show: int = 20  # rows to list (confused pairs, rows that differ, largest errors)


@dataclass
class Rows:
    """The test file's usable rows, and the rows set aside (reason -> data row numbers)."""

    path: Path
    total: int
    numbers: list[int]  # data row number of each usable row (1: the first data row)
    inputs: list[TextInput]
    truth: list[Any]  # single-label: str; multi-label: tuple of str; regression: float
    set_aside: dict[str, list[int]] = field(default_factory=dict)
    unknown: Counter[str] = field(default_factory=Counter)  # label the model lacks -> rows

    def summary(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "scored": len(self.inputs),
            "set_aside": {
                reason: {"count": len(rows), "rows": rows[:10]} for reason, rows in self.set_aside.items()
            },
            "unknown_labels": dict(self.unknown.most_common()),
        }


UNKNOWN = "label unknown to the model"


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _label_text(value: Any) -> str | None:
    """One label as text, or None when it is not a usable label (a list, an object, control chars)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value) if value.is_integer() else value
    label = str(value).strip()
    if label.endswith(".0") and label[:-2].lstrip("-").isdigit():
        label = label[:-2]  # "3.0": an integer label written by a tool that had floats
    if not label or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in label):
        return None
    return label


def parse_label(value: Any, task: str, separator: str) -> Any:
    """The row's truth for `task`; raises ValueError("empty label"/"malformed label")."""
    if _missing(value) or (isinstance(value, list) and task != "multi_label" and not value):
        raise ValueError("empty label")
    if task == "regression":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("malformed label")
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError("malformed label") from None
        if not math.isfinite(number):
            raise ValueError("malformed label")
        return number
    if task == "multi_label":
        if isinstance(value, bool) or not isinstance(value, list | str | int | float):
            raise ValueError("malformed label")
        items = value if isinstance(value, list) else str(value).split(separator)
        labels = [_label_text(x) if not (isinstance(x, str) and not x.strip()) else "" for x in items]
        if any(x is None for x in labels):
            raise ValueError("malformed label")
        chosen = tuple(sorted({x for x in labels if x}))
        if not chosen and not isinstance(value, list):
            raise ValueError("empty label")  # only an explicit [] (JSONL, Parquet) says "no label applies"
        return chosen
    label = _label_text(value)
    if label is None:
        raise ValueError("malformed label")
    return label


def _text(value: Any) -> str | None:
    if _missing(value) or isinstance(value, list | dict | bool):
        return None
    return value if isinstance(value, str) else str(value)


def load_rows(path: Path, models: list[TextClassifier], config: EvalConfig) -> Rows:
    """Read `path` and check every row against the models (one, or two being compared)."""
    _check_models(models, config)
    table = read_table(path)
    _check_columns(table, path, config)
    task = models[0].task
    known = set.intersection(*(set(clf.labels) for clf in models))
    texts = table.columns[config.text_column]
    pairs = table.columns[config.pair_column] if config.pair_column else None
    labels = table.columns[config.label_column]
    rows = Rows(Path(path), table.rows, [], [], [])
    for i in range(table.rows):
        number = i + 1
        try:
            if number in table.malformed:
                raise ValueError("wrong number of fields")
            text, pair = _text(texts[i]), _text(pairs[i]) if pairs is not None else ""
            if text is None or pair is None:
                raise ValueError("empty text")
            truth = parse_label(labels[i], task, config.label_separator)
            lacking = [] if task == "regression" else [x for x in _as_tuple(truth) if x not in known]
            if lacking:
                rows.unknown.update(lacking)
                raise ValueError(UNKNOWN)
        except ValueError as exc:
            rows.set_aside.setdefault(str(exc), []).append(number)
            continue
        rows.numbers.append(number)
        rows.inputs.append((text, pair) if pairs is not None else text)
        rows.truth.append(truth)
    _check(rows, config)
    return rows


def _as_tuple(truth: str | tuple[str, ...]) -> tuple[str, ...]:
    return (truth,) if isinstance(truth, str) else truth


def _check_models(models: list[TextClassifier], config: EvalConfig) -> None:
    first = models[0]
    for other in models[1:]:
        if (other.task, other.text_pair) != (first.task, first.text_pair):
            raise InputError(
                f"cannot compare a {_kind(first)} model with a {_kind(other)} model: "
                "compare two models of one task"
            )
    if first.text_pair and config.pair_column is None:
        raise InputError(
            "this model classifies text pairs; name the second text's column with --text-pair-column"
        )
    if not first.text_pair and config.pair_column is not None:
        raise InputError("this model classifies single texts; leave out --text-pair-column")


def _check_columns(table: Table, path: Path, config: EvalConfig) -> None:
    for option, name in (
        ("--text-column", config.text_column),
        ("--text-pair-column", config.pair_column),
        ("--label-column", config.label_column),
    ):
        if name is not None and name not in table.columns:
            found = ", ".join(list(table.columns)[:20]) or "none"
            raise InputError(
                f"{path} has no column {name!r} (found: {found}); pass {option} with the right name"
            )


def _kind(clf: TextClassifier) -> str:
    return clf.task.replace("_", "-") + (" pair" if clf.text_pair else "")


def set_aside_line(rows: Rows) -> str:
    """One line naming each kind of set-aside row, its count and first rows."""
    parts = []
    for reason, numbers in rows.set_aside.items():
        where = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
        detail = ""
        if reason == UNKNOWN:
            names = ", ".join(f"{name!r}" for name, _ in rows.unknown.most_common(5))
            detail = f" ({names}{', ...' if len(rows.unknown) > 5 else ''})"
        count = f"{len(numbers)} row{'s' if len(numbers) > 1 else ''}"
        article = "an" if reason[0] in "aeiou" else "a"
        parts.append(
            f"{count} with {article} {reason}{detail} (data row{'s' if len(numbers) > 1 else ''} {where})"
        )
    return "; ".join(parts)


def _check(rows: Rows, config: EvalConfig) -> None:
    if rows.set_aside and config.strict:
        raise InputError(
            f"{rows.path}: {set_aside_line(rows)}; fix these rows, or leave out --strict to skip them"
        )
    if not rows.inputs:
        why = f": {set_aside_line(rows)}" if rows.set_aside else ""
        raise InputError(f"{rows.path}: no row can be scored{why}")


# --- running the model --------------------------------------------------------------------------


@dataclass
class Scored:
    """One model's predictions on the rows."""

    clf: TextClassifier
    predictions: list[Prediction]
    seconds: float
    too_long: int


def score(clf: TextClassifier, rows: Rows, config: EvalConfig) -> Scored:
    """Predict every usable row as clf-run would (min-score is applied later, per level)."""
    check_min_score(config.min_score, clf.task)
    before = clf.inputs_too_long
    start = time.perf_counter()
    predictions = clf.predict(rows.inputs, batch_size=config.batch_size, long_text=config.long_text)
    seconds = time.perf_counter() - start
    return Scored(clf, predictions, seconds, clf.inputs_too_long - before)


def _probabilities(scored: Scored) -> np.ndarray:
    labels = scored.clf.labels
    return np.array([[p.scores[label] for label in labels] for p in scored.predictions], dtype=np.float64)


def preview(text: TextInput, width: int = 60) -> str:
    """The input on one line, cut to `width` characters (a pair as `a | b`)."""
    joined = " | ".join(text) if isinstance(text, tuple) else text
    flat = "".join(c if c.isprintable() else " " for c in joined)
    flat = " ".join(flat.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def model_info(clf: TextClassifier, config: EvalConfig) -> dict[str, Any]:
    return {
        "path": str(clf.folder),
        "task": clf.task,
        "labels": len(clf.labels),
        "precision": clf.precision,
        "provider": clf.provider,
        "calibration": clf.manifest.calibration.method if clf.manifest.calibration else None,
        "long_text": config.long_text or clf.manifest.long_text.strategy,
    }


# --- metrics ------------------------------------------------------------------------------------


def _single_label(scored: Scored, rows: Rows, config: EvalConfig) -> dict[str, Any]:
    labels = scored.clf.labels
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[t] for t in rows.truth])
    pred = np.array([index[p.label] for p in scored.predictions])
    top = np.array([p.score for p in scored.predictions], dtype=np.float64)
    correct = y == pred
    out: dict[str, Any] = {"metrics": M.classification(y, pred, labels)}
    out["calibration"] = _calibration(scored, ece(top, correct), M.reliability(top, correct))
    levels = sorted({*COVERAGE_LEVELS, *([config.min_score] if config.min_score is not None else [])})
    out["coverage"] = [
        {
            "min_score": level,
            "coverage": float((top >= level).mean()),
            "accuracy": float(correct[top >= level].mean()) if (top >= level).any() else None,
            "rows": int((top >= level).sum()),
            "asked": level == config.min_score,
        }
        for level in levels
    ]
    matrix = np.asarray(out["metrics"]["confusion_matrix"])
    np.fill_diagonal(matrix, 0)
    pairs = sorted(zip(*np.nonzero(matrix)), key=lambda ij: (-matrix[ij], ij))[: config.show]
    support = np.bincount(y, minlength=len(labels))
    out["confused"] = [
        {"true": labels[i], "predicted": labels[j], "count": int(matrix[i, j]), "of": int(support[i])}
        for i, j in pairs
    ]
    return out


def _multi_label(scored: Scored, rows: Rows, config: EvalConfig) -> dict[str, Any]:
    labels = scored.clf.labels
    index = {label: i for i, label in enumerate(labels)}
    y = np.zeros((len(rows.truth), len(labels)), dtype=bool)
    pred = np.zeros_like(y)
    for r, (truth, p) in enumerate(zip(rows.truth, scored.predictions, strict=True)):
        y[r, [index[x] for x in truth]] = True
        pred[r, [index[x] for x in p.labels or ()]] = True
    probs = _probabilities(scored)
    out: dict[str, Any] = {"metrics": M.multi_label(y, pred, labels)}
    thresholds = scored.clf.manifest.thresholds
    out["metrics"]["thresholds"] = "manifest" if thresholds is not None else 0.5
    out["calibration"] = _calibration(scored, ece(probs, y), M.reliability(probs, y))
    # Confused pairs: a true label missed while a label that does not apply was predicted.
    confused: Counter[tuple[int, int]] = Counter()
    for missed, extra in zip(y & ~pred, pred & ~y, strict=True):
        confused.update((int(i), int(j)) for i in np.flatnonzero(missed) for j in np.flatnonzero(extra))
    ordered = sorted(confused.items(), key=lambda kv: (-kv[1], kv[0]))[: config.show]
    out["confused"] = [{"true": labels[i], "predicted": labels[j], "count": n} for (i, j), n in ordered]
    return out


def _regression(scored: Scored, rows: Rows, config: EvalConfig) -> dict[str, Any]:
    y = np.array(rows.truth, dtype=np.float64)
    pred = np.array([p.value for p in scored.predictions], dtype=np.float64)
    err = np.abs(pred - y)
    worst = np.argsort(-err, kind="stable")[: config.show]
    return {
        "metrics": M.regression(pred, y),
        "largest_errors": [
            {
                "row": rows.numbers[i],
                "text": preview(rows.inputs[i]),
                "truth": float(y[i]),
                "predicted": float(pred[i]),
            }
            for i in worst
        ],
    }


def _calibration(scored: Scored, error: float, table: list[dict[str, Any]]) -> dict[str, Any]:
    return {"calibrated": scored.clf.manifest.calibration is not None, "ece": error, "reliability": table}


TASK_METRICS = {"single_label": _single_label, "multi_label": _multi_label, "regression": _regression}


def slowest(clf: TextClassifier, rows: Rows, config: EvalConfig) -> list[dict[str, Any]]:
    """The `config.slowest` slowest inputs, each timed alone (median of 3 runs after a warm-up)
    among the SLOWEST_CANDIDATES x as many longest inputs by characters."""
    if config.slowest <= 0:
        return []
    size = [sum(map(len, x)) if isinstance(x, tuple) else len(x) for x in rows.inputs]
    candidates = np.argsort(-np.array(size), kind="stable")[: config.slowest * SLOWEST_CANDIDATES]
    timed = []
    for i in candidates.tolist():
        ms = median_ms(
            lambda _, item=[rows.inputs[i]]: clf.predict(item, batch_size=1, long_text=config.long_text),
            runs=3,
            warmup=1,
        )
        timed.append({"row": rows.numbers[i], "ms": ms, "chars": size[i], "text": preview(rows.inputs[i])})
    return sorted(timed, key=lambda t: -t["ms"])[: config.slowest]


def model_report(scored: Scored, rows: Rows, config: EvalConfig) -> dict[str, Any]:
    """The task's metrics and tables for one model's predictions."""
    out = TASK_METRICS[scored.clf.task](scored, rows, config)
    out["speed"] = {
        "seconds": scored.seconds,
        "inputs_per_second": len(rows.inputs) / scored.seconds if scored.seconds > 0 else None,
        "batch_size": config.batch_size,
    }
    out["inputs_too_long"] = scored.too_long
    return out


# --- comparing two models -----------------------------------------------------------------------


def _outcomes(scored: Scored, rows: Rows) -> tuple[np.ndarray, np.ndarray, Any]:
    """Per row: right or not (exact label set for multi-label), the bootstrap parts, the statistic."""
    task = scored.clf.task
    if task == "regression":
        pred = np.array([p.value for p in scored.predictions], dtype=np.float64)
        sq = (pred - np.array(rows.truth, dtype=np.float64)) ** 2
        return np.zeros(len(sq), dtype=bool), sq[:, None], M.mean_of_first
    if task == "multi_label":
        tp, fp, fn, right = [], [], [], []
        for truth, p in zip(rows.truth, scored.predictions, strict=True):
            t, q = set(truth), set(p.labels or ())
            tp.append(len(t & q))
            fp.append(len(q - t))
            fn.append(len(t - q))
            right.append(t == q)
        return np.array(right), np.array([tp, fp, fn], dtype=np.float64).T, M.micro_f1
    right = np.array([p.label == t for p, t in zip(scored.predictions, rows.truth, strict=True)])
    return right, right.astype(np.float64)[:, None], M.mean_of_first


BOOTSTRAP_METRIC = {"single_label": "accuracy", "multi_label": "f1_micro", "regression": "mse"}


def _answer(p: Prediction, task: str) -> Any:
    if task == "regression":
        return p.value
    return list(p.labels or ()) if task == "multi_label" else p.label


def compare(a: Scored, b: Scored, rows: Rows, config: EvalConfig) -> dict[str, Any]:
    """Both models on the same rows: agreement, McNemar's test, a bootstrap interval of the main
    metric's difference (B - A), and the rows whose answer differs."""
    task = a.clf.task
    right_a, parts_a, statistic = _outcomes(a, rows)
    right_b, parts_b, _ = _outcomes(b, rows)
    out: dict[str, Any] = {
        "bootstrap": {"metric": BOOTSTRAP_METRIC[task]} | M.bootstrap_difference(parts_a, parts_b, statistic),
    }
    answers = [
        (_answer(p, task), _answer(q, task)) for p, q in zip(a.predictions, b.predictions, strict=True)
    ]
    if task == "regression":
        gap = np.array([abs(x - y) for x, y in answers])
        differ = [int(i) for i in np.argsort(-gap, kind="stable") if gap[i] > 0]
        out["max_abs_difference"] = float(gap.max()) if len(gap) else 0.0
    else:
        out["mcnemar"] = M.mcnemar(right_a, right_b)
        out["agreement"] = {
            "both_right": int((right_a & right_b).sum()),
            "only_a_right": int((right_a & ~right_b).sum()),
            "only_b_right": int((~right_a & right_b).sum()),
            "both_wrong": int((~right_a & ~right_b).sum()),
        }
        differ = [i for i, (x, y) in enumerate(answers) if x != y]
    out["differing"] = {
        "count": len(differ),
        "rows": [
            {
                "row": rows.numbers[i],
                "text": preview(rows.inputs[i]),
                "truth": list(rows.truth[i]) if isinstance(rows.truth[i], tuple) else rows.truth[i],
                "a": answers[i][0],
                "b": answers[i][1],
            }
            for i in differ[: config.show]
        ],
    }
    return out


# --- the whole evaluation -----------------------------------------------------------------------


def evaluate(
    path: Path, clf: TextClassifier, config: EvalConfig, other: TextClassifier | None = None
) -> dict[str, Any]:
    """Score `clf` (and `other`, to compare) on the labelled file at `path`; a JSON-ready report."""
    models = [clf] if other is None else [clf, other]
    check_min_score(config.min_score, clf.task)  # before reading the file: an option error first
    rows = load_rows(path, models, config)
    scored = score(clf, rows, config)
    report: dict[str, Any] = {
        "test_file": str(path),
        "rows": rows.summary(),
        "model": model_info(clf, config),
        "labels": list(clf.labels),
        **model_report(scored, rows, config),
    }
    report["slowest"] = slowest(clf, rows, config)
    if other is not None:
        scored_b = score(other, rows, config)
        report["compare"] = {
            "model": model_info(other, config),
            **model_report(scored_b, rows, config),
            **compare(scored, scored_b, rows, config),
        }
    return report
