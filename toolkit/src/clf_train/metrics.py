"""Metrics for each task, from logits and labels. The main metric picks the best checkpoint.

The metric names (and `MAIN_METRIC`) are defined in clf_train.reference, shared with the export gate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clf_runtime.prediction import sigmoid
from clf_train.reference import MAIN_METRIC, label_ids

__all__ = [
    "MAIN_METRIC",
    "classification",
    "compute",
    "headline",
    "label_ids",
    "multi_label",
    "regression",
    "tune_thresholds",
]


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
    # ROC-AUC over the labels with both classes in this split: one without positives has none.
    both = (y.min(axis=0) == 0) & (y.max(axis=0) == 1)
    auc = roc_auc_score(y[:, both], probs[:, both], average="macro") if both.any() else None
    out["roc_auc_macro"] = None if auc is None else float(auc)
    out["roc_auc_labels"] = int(both.sum())
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
    """Per-label thresholds for micro-F1, shrunk toward one global threshold (clf_train.thresholds)."""
    from clf_train.thresholds import tune

    return tune(sigmoid(logits), y)


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


def headline(values: dict[str, Any] | None) -> dict[str, float]:
    """The numbers of a metrics dict (the tuned ones for multi-label), without tables and matrices."""
    if not values:
        return {}
    values = values.get("tuned", values)
    return {k: v for k, v in values.items() if isinstance(v, float)}
