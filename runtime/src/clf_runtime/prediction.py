"""What the runtime returns for one input, and how logits become it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's answer for one input.

    Single-label: `label` and its probability `score`; `scores` maps every label to its probability.
    Multi-label: `labels` at or above the threshold, `score` the highest probability, `scores` all.
    Regression: `value` (and `scores` maps each output name to its value when there are several).
    """

    label: str | None = None
    labels: tuple[str, ...] | None = None
    value: float | None = None
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def top(self, k: int) -> list[tuple[str, float]]:
        """The k labels with the highest scores, best first."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self, top_k: int | None = None) -> dict[str, Any]:
        """The fields that apply to this prediction's task, JSON-ready."""
        scores = dict(self.top(top_k)) if top_k else self.scores
        out: dict[str, Any] = {}
        if self.labels is not None:
            out["labels"] = list(self.labels)
        elif self.value is not None:
            out["value"] = self.value
        else:
            out["label"] = self.label
        if self.score is not None:
            out["score"] = self.score
        out["scores"] = scores
        return out


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def to_predictions(
    logits: np.ndarray, task: str, labels: tuple[str, ...], thresholds: np.ndarray
) -> list[Prediction]:
    """Turn a (n, num_labels) array of logits into n predictions."""
    if task == "regression":
        if len(labels) == 1:
            return [Prediction(value=float(row[0])) for row in logits]
        return [
            Prediction(value=float(row[0]), scores=dict(zip(labels, map(float, row), strict=True)))
            for row in logits
        ]
    if task == "multi_label":
        probs = sigmoid(logits.astype(np.float64))
        out = []
        for row in probs:
            chosen = tuple(lab for lab, p, t in zip(labels, row, thresholds, strict=True) if p >= t)
            out.append(
                Prediction(
                    labels=chosen,
                    score=float(row.max()),
                    scores=dict(zip(labels, map(float, row), strict=True)),
                )
            )
        return out
    probs = softmax(logits.astype(np.float64))
    best = probs.argmax(axis=-1)
    return [
        Prediction(
            label=labels[int(b)],
            score=float(row[b]),
            scores=dict(zip(labels, map(float, row), strict=True)),
        )
        for row, b in zip(probs, best, strict=True)
    ]
