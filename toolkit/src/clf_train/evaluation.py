"""The trained model judged: LoRA merged (and checked), logits, metrics and tuned thresholds.

Logits come from clf_train.reference (the same PyTorch reference the export gate uses), metrics from
clf_train.metrics, multi-label thresholds from clf_train.thresholds. Not here: writing any of it
(clf_train.outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clf_runtime.calibration import Calibration
from clf_runtime.errors import InputError
from clf_train import calibrate, reference
from clf_train import metrics as M
from clf_train.config import TrainConfig
from clf_train.data import Split, TaskData
from clf_train.model import merge_lora, output_layer
from clf_train.objective import TargetScale

# Merging folds the adapter into the weights, exact up to float rounding: on the tiny test models the
# drift stays below 1e-4 (tests/train/test_train.py); above 1e-3 the merged model is not the trained one.
MAX_MERGE_DRIFT = 1e-3


@dataclass
class Evaluation:
    """Validation (and test, when the data has one) logits and metrics of the saved model, and the
    calibration fitted on the validation logits."""

    validation_logits: np.ndarray
    validation_metrics: dict[str, Any]
    thresholds: np.ndarray | None = None  # multi-label, tuned on validation (raw sigmoid scale)
    test_logits: np.ndarray | None = None
    test_metrics: dict[str, Any] | None = None
    calibration: Calibration | None = None  # None: too few validation rows (clf_train.calibrate)
    calibration_report: dict[str, Any] = field(default_factory=dict)


def predict_logits(model: Any, tokenizer: Any, split: Split, config: TrainConfig) -> np.ndarray:
    """The model's logits on a split, with the run's max length and long-text setting."""
    return reference.logits(
        model,
        tokenizer,
        split.texts,
        split.pairs,
        max_length=config.max_length,
        long_text=config.long_text,
    )


def merged_model(
    model: Any, tokenizer: Any, data: TaskData, config: TrainConfig, scale: TargetScale | None = None
) -> tuple[Any, np.ndarray]:
    """The model to save (LoRA folded in, and the target scale of a regression trained on
    standardized targets folded into its output layer) and its validation logits; InputError if
    merging drifts."""
    logits = predict_logits(model, tokenizer, data.validation, config)
    if config.method == "lora":
        before, model = logits, merge_lora(model)
        logits = predict_logits(model, tokenizer, data.validation, config)
        drift = float(np.abs(before - logits).max())
        if drift > MAX_MERGE_DRIFT:
            raise InputError(
                f"merging the LoRA adapter changed the logits by {drift:.2e}; keep --method full"
            )
    if scale is not None:
        scale.fold_into(output_layer(model))
        logits = scale.original(logits)
    return model, logits


def evaluate(
    model: Any, tokenizer: Any, data: TaskData, config: TrainConfig, logits: np.ndarray
) -> Evaluation:
    """Metrics on validation (`logits`) and test, then calibration fitted on validation.

    Multi-label: also at thresholds tuned on validation (reported as "tuned", beside "at_0.5").
    """
    metrics = M.compute(logits, data.validation.labels, data.task, data.label_names)
    thresholds = None
    if data.task == "multi_label" and config.tune_thresholds:
        y = M.label_ids(data.validation.labels, data.task, data.label_names)
        thresholds = M.tune_thresholds(logits, y)
        metrics = {
            "at_0.5": metrics,
            "tuned": M.compute(logits, data.validation.labels, data.task, data.label_names, thresholds),
            "note": "thresholds are tuned on this same validation split: optimistic",
        }
    result = Evaluation(logits, metrics, thresholds)
    if data.test is not None:
        result.test_logits = predict_logits(model, tokenizer, data.test, config)
        result.test_metrics = M.compute(
            result.test_logits, data.test.labels, data.task, data.label_names, thresholds
        )
    result.calibration, result.calibration_report = calibrate.fit_and_report(logits, result.test_logits, data)
    return result
