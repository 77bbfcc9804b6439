"""Metrics for each task, from logits and labels. The main metric picks the best checkpoint."""

from __future__ import annotations

from typing import Any

import numpy as np

from clf_runtime.prediction import sigmoid

MAIN_METRIC = {"single_label": "accuracy", "multi_label": "f1_micro", "regression": "pearson"}


def label_ids(labels: list[Any], task: str, names: tuple[str, ...]) -> np.ndarray:
    if task == "regression":
        return np.asarray(labels, dtype=np.float32)
    index = {n: i for i, n in enumerate(names)}
    if task == "multi_label":
        out = np.zeros((len(labels), len(names)), dtype=np.float32)
        for row, items in enumerate(labels):
            for x in items:
                out[row, index[x]] = 1.0
        return out
    return np.asarray([index[x] for x in labels], dtype=np.int64)


def classification(logits: np.ndarray, y: np.ndarray, names: tuple[str, ...], full: bool = True) -> dict:
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    pred = logits.argmax(axis=1)
    ids = list(range(len(names)))
    out: dict[str, Any] = {"accuracy": float(accuracy_score(y, pred))}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=ids, average=avg, zero_division=0)
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = float(p), float(r), float(f)
    if full:
        out["per_class"] = classification_report(
            y, pred, labels=ids, target_names=list(names), output_dict=True, zero_division=0
        )
        out["confusion_matrix"] = confusion_matrix(y, pred, labels=ids).tolist()
    return out


def multi_label(logits: np.ndarray, y: np.ndarray, thresholds: np.ndarray, names: tuple[str, ...]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    probs = sigmoid(logits)
    pred = (probs >= thresholds).astype(int)
    out: dict[str, Any] = {
        "f1_micro": float(f1_score(y, pred, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(y, pred, average="macro", zero_division=0)),
        "subset_accuracy": float(accuracy_score(y, pred)),
        "distinct_predicted_label_sets": len({tuple(r) for r in pred.tolist()}),
    }
    try:
        out["roc_auc_macro"] = float(roc_auc_score(y, probs, average="macro"))
    except ValueError:  # a label with only one class in this split
        out["roc_auc_macro"] = None
    out["per_label_f1"] = dict(
        zip(names, map(float, f1_score(y, pred, average=None, zero_division=0)), strict=True)
    )
    return out


def regression(pred: np.ndarray, y: np.ndarray) -> dict:
    from scipy.stats import pearsonr, spearmanr

    pred = pred.reshape(-1)
    err = pred - y
    out = {
        "mse": float(np.mean(err**2)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
    }
    constant = np.std(pred) == 0 or np.std(y) == 0
    out["pearson"] = 0.0 if constant else float(pearsonr(pred, y)[0])
    out["spearman"] = 0.0 if constant else float(spearmanr(pred, y)[0])
    return out


def tune_thresholds(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per label, the threshold in a grid that maximizes that label's F1 on validation."""
    probs = sigmoid(logits)
    grid = np.linspace(0.05, 0.95, 19)
    best = np.full(y.shape[1], 0.5)
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            continue  # no positives to tune on: keep 0.5
        scores = []
        for t in grid:
            p = probs[:, j] >= t
            tp = float((p & (y[:, j] == 1)).sum())
            denom = float(p.sum() + y[:, j].sum())
            scores.append(2 * tp / denom if denom else 0.0)
        best[j] = grid[int(np.argmax(scores))]
    return best


def compute(
    logits: np.ndarray,
    labels: list[Any],
    task: str,
    names: tuple[str, ...],
    thresholds: np.ndarray | None = None,
    full: bool = True,
) -> dict:
    y = label_ids(labels, task, names)
    if task == "single_label":
        return classification(logits, y, names, full)
    if task == "multi_label":
        t = thresholds if thresholds is not None else np.full(len(names), 0.5)
        return multi_label(logits, y, t, names)
    return regression(logits, y)
