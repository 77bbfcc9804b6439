"""Multi-label decision thresholds chosen for micro-F1, the metric the user is shown.

Per-label F1 maximization overfits where a label has few validation positives (and leaves labels
without positives at 0.5), so its thresholds can score below one global threshold on the very rows
they were tuned on. Here:

1. one global threshold maximizes micro-F1 exactly (every distinct score is a candidate);
2. each label's threshold then moves to where it maximizes micro-F1 with the others held fixed
   (coordinate ascent, exact per label, a few passes);
3. each label's threshold is shrunk toward the global one by its number of validation positives
   n: t = (n * t_label + k * t_global) / (n + k), so a label seen a handful of times keeps about the
   global threshold;
4. if the result scores below the global threshold on validation, the global threshold is used.

`SHRINKAGE` (k) was chosen with benchmarks/thresholds.py on held-out test splits (see the README).
"""

from __future__ import annotations

import numpy as np

SHRINKAGE = 5.0
PASSES = 2


def micro_f1(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray | float) -> float:
    pred = probs >= thresholds
    tp = float((pred & (y == 1)).sum())
    denom = float(pred.sum() + (y == 1).sum())
    return 2 * tp / denom if denom else 0.0


def _best_cut(scores: np.ndarray, hits: np.ndarray, tp_rest: float, pred_rest: float, positives: float):
    """The threshold on `scores` maximizing 2(tp_rest + tp)/(pred_rest + pred + positives).

    Predicting the top-k scores gives tp = hits among them; every k from 0 to n is a candidate and
    the threshold is set midway between the k-th and (k+1)-th score, so ties stay together.
    """
    order = np.argsort(-scores, kind="stable")
    s, h = scores[order], hits[order].astype(np.float64)
    tp = np.concatenate([[0.0], np.cumsum(h)])
    k = np.arange(len(s) + 1, dtype=np.float64)
    denom = pred_rest + k + positives
    f1 = np.where(denom > 0, 2 * (tp_rest + tp) / np.maximum(denom, 1e-12), 0.0)
    # Only cut between distinct scores: a cut inside a run of ties is not a threshold.
    valid = np.ones(len(s) + 1, dtype=bool)
    valid[1:-1] = s[:-1] > s[1:]
    f1 = np.where(valid, f1, -1.0)
    best = int(np.argmax(f1))
    if best == 0:
        return float(np.nextafter(s[0], np.inf)) if len(s) else 0.5, float(f1[0])
    if best == len(s):
        return float(s[-1]), float(f1[best])
    return float((s[best - 1] + s[best]) / 2), float(f1[best])


def global_threshold(probs: np.ndarray, y: np.ndarray) -> float:
    t, _ = _best_cut(probs.ravel(), y.ravel() == 1, 0.0, 0.0, float((y == 1).sum()))
    return float(np.clip(t, 1e-6, 1 - 1e-6))


def tune(probs: np.ndarray, y: np.ndarray, shrinkage: float = SHRINKAGE) -> np.ndarray:
    """Per-label thresholds for micro-F1 (see the module docstring). probs, y: (rows, labels)."""
    y = y == 1
    t_global = global_threshold(probs, y)
    fallback = np.full(probs.shape[1], t_global)
    t = fallback.copy()
    positives = float(y.sum())
    # Per-label counts of predicted and true-positive rows, updated as each threshold moves, so a
    # step costs one label's column rather than the whole matrix.
    pred = probs >= t
    pred_cols = pred.sum(axis=0).astype(np.float64)
    tp_cols = (pred & y).sum(axis=0).astype(np.float64)
    for _ in range(PASSES):
        for j in range(probs.shape[1]):
            tp_rest = float(tp_cols.sum() - tp_cols[j])
            pred_rest = float(pred_cols.sum() - pred_cols[j])
            t[j], _ = _best_cut(probs[:, j], y[:, j], tp_rest, pred_rest, positives)
            column = probs[:, j] >= t[j]
            pred_cols[j], tp_cols[j] = column.sum(), (column & y[:, j]).sum()
    n = y.sum(axis=0).astype(np.float64)
    weight = np.divide(n, n + shrinkage, out=np.ones_like(n), where=(n + shrinkage) > 0)
    shrunk = np.clip(weight * t + (1 - weight) * t_global, 1e-6, 1 - 1e-6)
    if micro_f1(probs, y, shrunk) < micro_f1(probs, y, fallback):
        return fallback
    return shrunk
