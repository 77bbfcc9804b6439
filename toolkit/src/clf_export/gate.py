"""The validation gate: does each exported variant still do what the PyTorch model did?

For the PyTorch model and every ONNX variant we compute logits on the validation texts, then:
max absolute logit difference to PyTorch, prediction agreement with PyTorch, and the task metric
(accuracy, micro-F1 or Pearson) when labels are known. The fp32 graph must match PyTorch within a
tolerance; a quantized graph may lose at most `max_drop` of the metric against fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clf_export.errors import GateError
from clf_export.validation_data import ValidationSet
from clf_runtime.calibration import Calibration, task_ece
from clf_runtime.prediction import sigmoid
from clf_train.reference import MAIN_METRIC, label_ids


def decisions(logits: np.ndarray, task: str, thresholds: np.ndarray) -> np.ndarray:
    if task == "single_label":
        return logits.argmax(axis=1)
    if task == "multi_label":
        return sigmoid(logits) >= thresholds
    return logits[:, 0]


def agreement(a: np.ndarray, b: np.ndarray, task: str) -> float:
    if len(a) == 0:
        return 1.0
    if task == "multi_label":
        return float((a == b).all(axis=1).mean())
    if task == "regression":
        # For continuous outputs "agreement" is the Pearson correlation of the two output vectors.
        if np.std(a) == 0 or np.std(b) == 0:
            return 1.0 if np.allclose(a, b) else 0.0
        return float(np.corrcoef(a, b)[0, 1])
    return float((a == b).mean())


def metric(
    logits: np.ndarray, labels: list[Any], task: str, names: tuple[str, ...], thresholds: np.ndarray
) -> tuple[str, float]:
    """The task's main metric (accuracy, f1_micro or pearson), as training computes it."""
    from clf_train.metrics import compute

    name = MAIN_METRIC[task]
    return name, float(compute(logits, labels, task, names, thresholds, full=False)[name])


@dataclass(frozen=True)
class VariantCheck:
    precision: str
    max_abs_diff: float  # vs PyTorch logits
    agreement: float  # vs PyTorch decisions
    metric_name: str | None
    metric: float | None
    ece: float | None = None  # of the calibrated scores, on the validation labels

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "precision"}


def check_variant(
    precision: str,
    logits: np.ndarray,
    reference: np.ndarray,
    data: ValidationSet,
    task: str,
    names: tuple[str, ...],
    thresholds: np.ndarray,
    calibration: Calibration | None = None,
) -> VariantCheck:
    """Compare raw logits with PyTorch; decide, score and measure ECE on calibrated outputs."""
    scored, scored_ref = logits, reference
    if calibration is not None:  # thresholds are on the calibrated scale
        scored, scored_ref = calibration.apply(logits), calibration.apply(reference)
    ours = decisions(scored, task, thresholds)
    theirs = decisions(scored_ref, task, thresholds)
    name, value, ece = (None, None, None)
    if data.labels is not None:
        name, value = metric(scored, data.labels, task, names, thresholds)
        if task != "regression" and len(logits):
            ece = task_ece(scored, label_ids(data.labels, task, names), task)
    return VariantCheck(
        precision=precision,
        max_abs_diff=float(np.abs(logits - reference).max()) if len(logits) else 0.0,
        agreement=agreement(theirs, ours, task),
        metric_name=name,
        metric=value,
        ece=ece,
    )


@dataclass(frozen=True)
class Yardstick:
    """What every variant is checked against: the validation data and PyTorch's logits on it."""

    data: ValidationSet
    reference: np.ndarray  # PyTorch logits on data.texts
    task: str
    labels: tuple[str, ...]
    thresholds: np.ndarray
    calibration: Calibration | None = None  # decide and score on the calibrated scale

    def check(self, precision: str, logits: np.ndarray) -> VariantCheck:
        return check_variant(
            precision,
            logits,
            self.reference,
            self.data,
            self.task,
            self.labels,
            self.thresholds,
            self.calibration,
        )


def allowed_drop(max_drop: float, n: int) -> float:
    """On n validation texts one changed prediction moves the metric by 1/n, so the allowed drop is
    at least that: on 20 texts a 1-point limit would otherwise fail on any single flip."""
    return max(max_drop, 1.0 / n) if n else max_drop


def quantized_problem(fp32: VariantCheck, check: VariantCheck, max_drop: float, n: int) -> str | None:
    """Why a quantized variant fails against fp32, or None when it passes."""
    max_drop = allowed_drop(max_drop, n)
    if check.metric is not None and fp32.metric is not None:
        drop = fp32.metric - check.metric
        what = f"{check.metric_name} {fp32.metric:.4f} -> {check.metric:.4f}"
    else:
        drop = fp32.agreement - check.agreement
        what = f"agreement with PyTorch {fp32.agreement:.4f} -> {check.agreement:.4f} (no labels)"
    if drop <= max_drop + 1e-9:  # 1 - 59/60 is 1/60 + 5e-17 in floats: one example's worth passes
        return None
    return f"{check.precision} loses {drop:.4f} against fp32 ({what}; allowed {max_drop:.4f})"


def judge(checks: dict[str, VariantCheck], fp32_tolerance: float, max_drop: float, n: int) -> list[str]:
    """The reasons the export fails the gate (empty when it passes)."""
    problems = []
    fp32 = checks["fp32"]
    if fp32.max_abs_diff > fp32_tolerance:
        problems.append(
            f"fp32 ONNX logits differ from PyTorch by {fp32.max_abs_diff:.2e} (> {fp32_tolerance:.0e}); "
            "try --optimize O1 or O0, or another --opset"
        )
    for precision, check in checks.items():
        problem = None if precision == "fp32" else quantized_problem(fp32, check, max_drop, n)
        if problem:
            problems.append(
                problem + "; try --calibration with more texts like yours, the other of "
                "--per-channel/--per-tensor, --quantize int8-dynamic (batch-dependent), or --quantize none "
                "to ship fp32 (--force writes it anyway)"
            )
    return problems


def refusal(problems: list[str] | str) -> GateError:
    """The error that stops an export at the gate (nothing is written)."""
    text = problems if isinstance(problems, str) else " | ".join(problems)
    return GateError("export failed the validation gate, nothing written: " + text)
