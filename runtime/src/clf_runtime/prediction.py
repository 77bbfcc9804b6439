"""What the runtime returns for one input, and how logits become it."""

from __future__ import annotations

from typing import Any

import numpy as np


class Prediction:
    """The model's answer for one input (read-only).

    Single-label: `label` and its probability `score`; `scores` maps every label to its probability.
    Multi-label: `labels` at or above the threshold, `score` the highest probability, `scores` all.
    Regression: `value` (and `scores` maps each output name to its value when there are several).

    `scores` is built on first access: a dict of 77 floats per prediction costs more than the rest
    of the post-processing, and most callers only read `label`.
    """

    __slots__ = ("_names", "_row", "_scores", "label", "labels", "score", "value")

    def __init__(
        self,
        label: str | None = None,
        labels: tuple[str, ...] | None = None,
        value: float | None = None,
        score: float | None = None,
        scores: dict[str, float] | None = None,
        *,
        row: np.ndarray | None = None,
        names: tuple[str, ...] | None = None,
    ) -> None:
        init = object.__setattr__
        init(self, "label", label)
        init(self, "labels", labels)
        init(self, "value", value)
        init(self, "score", score)
        init(self, "_scores", dict(scores) if scores is not None else None)
        init(self, "_row", row)
        init(self, "_names", names)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Prediction is read-only")

    @property
    def scores(self) -> dict[str, float]:
        if self._scores is None:
            built = dict(zip(self._names, self._row.tolist())) if self._row is not None else {}
            object.__setattr__(self, "_scores", built)
        return self._scores

    def _key(self) -> tuple:
        return (self.label, self.labels, self.value, self.score, self.scores)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prediction) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # scores is a dict

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v!r}" for k, v in zip(("label", "labels", "value", "score"), self._key()) if v is not None
        )
        return f"Prediction({fields})"

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
            return [Prediction(value=v) for v in logits[:, 0].tolist()]
        return [Prediction(value=float(row[0]), row=row, names=labels) for row in logits]
    if task == "multi_label":
        probs = sigmoid(logits.astype(np.float64))
        chosen = probs >= thresholds
        return [
            Prediction(
                labels=tuple(lab for lab, c in zip(labels, pick.tolist(), strict=True) if c),
                score=float(row.max()),
                row=row,
                names=labels,
            )
            for row, pick in zip(probs, chosen, strict=True)
        ]
    probs = softmax(logits.astype(np.float64))
    best = probs.argmax(axis=-1).tolist()
    top = probs[np.arange(len(best)), best].tolist()
    return [
        Prediction(label=labels[b], score=p, row=row, names=labels)
        for row, b, p in zip(probs, best, top, strict=True)
    ]
