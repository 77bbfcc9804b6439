"""Calibrated scores: the parameters clf-train fits on validation, applied to logits at run time.

- single-label (and pairs): temperature scaling, softmax(logits / T) (Guo et al. 2017). One number,
  so the predicted label never changes, only how sure the score says the model is.
- multi-label: Platt scaling per label, sigmoid(a_i * logit_i + b_i), with a_i > 0 so the order of
  scores within a label is kept (tuned thresholds are mapped, not lost).

Fitting needs scipy and lives in clf_train; this module only applies and measures (numpy).
Stored in the manifest as `calibration`; absent means raw softmax/sigmoid scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

CALIBRATION_METHODS = ("temperature", "platt")
ECE_BINS = 15


@dataclass(frozen=True)
class Calibration:
    method: str  # "temperature" or "platt"
    temperature: float | None = None  # temperature
    slopes: tuple[float, ...] | None = None  # platt: a_i, one per label
    intercepts: tuple[float, ...] | None = None  # platt: b_i

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Logits whose softmax/sigmoid are the calibrated probabilities."""
        if self.method == "temperature":
            return (logits / np.float32(self.temperature)).astype(logits.dtype, copy=False)
        a = np.asarray(self.slopes, dtype=logits.dtype)
        b = np.asarray(self.intercepts, dtype=logits.dtype)
        return logits * a + b

    def map_thresholds(self, thresholds: np.ndarray) -> np.ndarray:
        """Multi-label thresholds on raw sigmoid scores -> the same decisions on calibrated scores."""
        if self.method != "platt":
            return thresholds
        t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-7, 1 - 1e-7)
        raw = np.log(t / (1 - t))
        z = raw * np.asarray(self.slopes) + np.asarray(self.intercepts)
        return 1.0 / (1.0 + np.exp(-z))

    def check(self, num_labels: int) -> None:
        """Raise ValueError when the parameters cannot be applied to num_labels outputs."""
        if self.method == "temperature":
            if self.temperature is None or not (math.isfinite(self.temperature) and self.temperature > 0):
                raise ValueError(f"calibration temperature must be a positive number, got {self.temperature}")
        elif self.method == "platt":
            if self.slopes is None or self.intercepts is None:
                raise ValueError("platt calibration needs slopes and intercepts")
            if len(self.slopes) != num_labels or len(self.intercepts) != num_labels:
                raise ValueError(f"platt calibration needs {num_labels} slopes and intercepts")
            if not all(math.isfinite(x) for x in (*self.slopes, *self.intercepts)):
                raise ValueError("platt calibration parameters must be finite numbers")
        else:
            raise ValueError(
                f"unknown calibration method {self.method!r} (expected one of {CALIBRATION_METHODS})"
            )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.slopes is not None:
            out["slopes"] = list(self.slopes)
            out["intercepts"] = list(self.intercepts or ())
        return out

    @classmethod
    def from_json(cls, data: Any) -> Calibration | None:
        """Read the manifest field; absent or null (older artifacts) means no calibration."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise ValueError(f"calibration must be an object, got {type(data).__name__}")
        slopes, intercepts = data.get("slopes"), data.get("intercepts")
        temperature = data.get("temperature")
        return cls(
            method=str(data.get("method")),
            temperature=float(temperature) if temperature is not None else None,
            slopes=tuple(float(x) for x in slopes) if slopes is not None else None,
            intercepts=tuple(float(x) for x in intercepts) if intercepts is not None else None,
        )


def check_min_score(min_score: float | None, task: str) -> None:
    """Abstention applies to single-label models and to scores that are probabilities."""
    from clf_runtime.errors import InputError

    if min_score is None:
        return
    if not 0.0 <= min_score <= 1.0:
        raise InputError(f"min-score must be a probability between 0 and 1, got {min_score}")
    if task != "single_label":
        raise InputError(f"min-score applies to single-label models only; this model is {task}")


def probabilities(logits: np.ndarray, task: str) -> np.ndarray:
    from clf_runtime.prediction import sigmoid, softmax

    x = np.asarray(logits, dtype=np.float64)
    return sigmoid(x) if task == "multi_label" else softmax(x)


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |accuracy - confidence| per equal-width bin, weighted by size."""
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=np.float64).ravel()
    if len(confidence) == 0:
        return 0.0
    # Bin i holds (i/bins, (i+1)/bins]; a confidence of exactly 0 goes to the first bin.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total / len(confidence))


def task_ece(logits: np.ndarray, y: np.ndarray, task: str, bins: int = ECE_BINS) -> float:
    """ECE of a task's scores. single-label: top score vs correctness (y: class ids).

    multi-label: every (text, label) score against whether the label applies (y: 0/1 matrix).
    """
    probs = probabilities(logits, task)
    if task == "multi_label":
        return ece(probs, y, bins)
    return ece(probs.max(axis=1), probs.argmax(axis=1) == np.asarray(y), bins)
