"""Evaluation metrics in numpy: the numbers `clf-eval` reports, with scikit-learn's definitions.

The runtime may depend on neither scikit-learn nor scipy. Each function names the library function
it follows (with `zero_division=0`: a ratio with nothing to divide by is 0); tests/runtime/
test_metrics.py checks every one against that function on random data where the full environment
has it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from clf_runtime.calibration import ECE_BINS


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """sklearn.metrics.confusion_matrix(labels=range(n)): rows true, columns predicted."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from counts; F1 = 2tp / (2tp + fp + fn), as scikit-learn >= 1.3."""
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _per_label(
    names: Sequence[str], p: np.ndarray, r: np.ndarray, f: np.ndarray, support: np.ndarray
) -> dict[str, dict[str, float]]:
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
        for i, name in enumerate(names)
    }


def classification(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Single-label metrics: sklearn's accuracy_score and classification_report.

    Averages and the per-class table cover the labels that occur in y_true or y_pred (what
    classification_report uses without `labels=`): a class absent from both has no precision or
    recall to average. y_true, y_pred: ids into `labels`.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    matrix = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    p, r, f = prf(tp, predicted - tp, support - tp)
    present = np.flatnonzero((support > 0) | (predicted > 0))
    out: dict[str, Any] = {"accuracy": float(_ratio(tp.sum(), len(y_true)))}
    weights = support[present]
    for name, values in (("precision", p), ("recall", r), ("f1", f)):
        out[f"{name}_macro"] = float(values[present].mean()) if len(present) else 0.0
        out[f"{name}_weighted"] = float(_ratio((values[present] * weights).sum(), weights.sum()))
    out["per_class"] = _per_label(
        [labels[i] for i in present], p[present], r[present], f[present], support[present]
    )
    out["confusion_matrix"] = matrix.tolist()
    return out


def multi_label(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Multi-label metrics on 0/1 matrices (rows, labels): sklearn's precision_recall_fscore_support
    (average micro, macro over every label, and per label) and accuracy_score (subset accuracy)."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=0)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    p, r, f = prf(tp, fp, fn)
    mp, mr, mf = prf(tp.sum(), fp.sum(), fn.sum())
    return {
        "f1_micro": float(mf),
        "precision_micro": float(mp),
        "recall_micro": float(mr),
        "f1_macro": float(f.mean()),
        "precision_macro": float(p.mean()),
        "recall_macro": float(r.mean()),
        "subset_accuracy": float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0,
        "per_label": _per_label(labels, p, r, f, y_true.sum(axis=0)),
    }


def rank(x: np.ndarray) -> np.ndarray:
    """scipy.stats.rankdata(x, method="average"): ranks from 1, ties get their mean rank."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(new) - 1
    bounds = np.r_[np.flatnonzero(new), len(x)]
    mean_rank = (bounds[:-1] + bounds[1:] - 1) / 2 + 1
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """scipy.stats.pearsonr's r; None (undefined) when either side is constant or has < 2 values."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2:
        return None
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float((da * da).sum()) * float((db * db).sum()))
    if den == 0:
        return None
    return max(-1.0, min(1.0, float((da * db).sum()) / den))


def regression(y_pred: np.ndarray, y_true: np.ndarray) -> dict[str, Any]:
    """MSE, RMSE, MAE (sklearn's), Pearson and Spearman (scipy's pearsonr and spearmanr)."""
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    err = y_pred - y_true
    mse = float(np.mean(err**2)) if len(err) else 0.0
    return {
        "pearson": pearson(y_pred, y_true),
        "spearman": pearson(rank(y_pred), rank(y_true)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(err))) if len(err) else 0.0,
    }


def reliability(confidence: np.ndarray, outcome: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """The reliability table behind clf_runtime.calibration.ece: per non-empty equal-width bin
    ((i/bins, (i+1)/bins], 0 in the first), its rows, mean confidence and observed rate."""
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    outcome = np.asarray(outcome, dtype=np.float64).ravel()
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            table.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "count": int(mask.sum()),
                    "confidence": float(confidence[mask].mean()),
                    "accuracy": float(outcome[mask].mean()),
                }
            )
    return table


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test of two models on the same rows: under "equally good", the rows only
    one of them gets right split 50/50, so p is the two-sided binomial test of that split
    (scipy.stats.binomtest(min, n, 0.5).pvalue; statsmodels' mcnemar(exact=True))."""
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        p = 1.0
    else:
        log_half = n * math.log(0.5)
        terms = [
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half for i in range(k + 1)
        ]
        top = max(terms)
        p = min(1.0, 2 * math.exp(top) * sum(math.exp(t - top) for t in terms))
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": p}


def bootstrap_difference(
    parts_a: np.ndarray,
    parts_b: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap interval of statistic(B) - statistic(A) over the same resampled rows.

    parts_a, parts_b: (rows, k) per-row parts whose column sums the statistic reads (for accuracy,
    one column "correct"; for micro-F1, tp/fp/fn; for MSE, the squared error); statistic maps sums
    of shape (resamples, k) and the row count to one value per resample. Seeded: the same rows give
    the same interval.
    """
    parts_a = np.asarray(parts_a, dtype=np.float64)
    parts_b = np.asarray(parts_b, dtype=np.float64)
    n = len(parts_a)
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, resamples, 100):  # 100 resamples at a time: rows x 100 indices in memory
        idx = rng.integers(0, n, size=(min(100, resamples - start), n))
        diffs.append(statistic(parts_b[idx].sum(axis=1), n) - statistic(parts_a[idx].sum(axis=1), n))
    d = np.concatenate(diffs)
    tail = (1 - level) / 2 * 100
    return {
        "difference": float(
            statistic(parts_b.sum(axis=0)[None], n)[0] - statistic(parts_a.sum(axis=0)[None], n)[0]
        ),
        "low": float(np.percentile(d, tail)),
        "high": float(np.percentile(d, 100 - tail)),
        "level": level,
        "resamples": resamples,
    }


def mean_of_first(sums: np.ndarray, n: int) -> np.ndarray:
    """Bootstrap statistic: the first column's mean (accuracy from "correct", MSE from squared error)."""
    return sums[:, 0] / n


def micro_f1(sums: np.ndarray, n: int) -> np.ndarray:
    """Bootstrap statistic: micro-F1 from summed tp, fp, fn."""
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    return _ratio(2 * tp, 2 * tp + fp + fn)
