"""Read a trained model folder: what task it does, its labels, inputs and max length.

Folders written by `clf-train` carry `clf_train.json` (clf_train.handoff) with all of it. Any
other Hugging Face sequence-classification folder works too: the task then comes from
`config.problem_type`, and multi-label CSV labels are split at ";". Its files are checked before
anything is exported (clf_export.model_files): a damaged or missing one is named with its fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clf_export.errors import ExportError
from clf_export.model_files import check_model_files
from clf_runtime.calibration import Calibration
from clf_runtime.long_text import LongText
from clf_runtime.oserrors import os_error_message
from clf_train.handoff import VALIDATION_NAME, read_handoff
from clf_train.reference import TASK_OF_PROBLEM_TYPE


@dataclass(frozen=True)
class SourceModel:
    path: Path
    model_type: str
    task: str
    labels: tuple[str, ...]
    text_pair: bool
    max_length: int
    thresholds: tuple[float, ...] | None
    validation: Path | None  # validation split saved by clf-train, if any
    train_metrics: dict[str, Any]
    label_separator: str = ";"  # multi-label labels in CSV/TSV validation files
    long_text: LongText = field(default_factory=LongText)  # from clf_train.json, else truncate
    calibration: Calibration | None = None  # fitted by clf-train on validation


def _exportable(model_type: str) -> bool:
    import optimum.exporters.onnx.model_configs  # noqa: F401 - importing registers the ONNX configs
    from optimum.exporters.tasks import TasksManager

    try:
        tasks = TasksManager.get_supported_tasks_for_model_type(
            model_type, exporter="onnx", library_name="transformers"
        )
    except KeyError:
        return False
    return "text-classification" in tasks


def supported_model_types() -> list[str]:
    import optimum.exporters.onnx.model_configs  # noqa: F401 - importing registers the ONNX configs
    from optimum.exporters.tasks import TasksManager

    return sorted(TasksManager.get_supported_model_type_for_task("text-classification", exporter="onnx"))


def _read_config(path: Path) -> dict[str, Any]:
    """config.json of a model folder, after checking the folder holds a model at all."""
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path} is a file, not a model folder: pass the folder clf-train wrote")
    if not path.is_dir():
        raise ExportError(
            f"model folder {path} does not exist: train one with clf-train or pass a model folder"
        )
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ExportError(
            f"{path} is not a trained model folder (no config.json): pass the folder clf-train wrote"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(os_error_message(exc, "cannot read")) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{config_path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ExportError(f"{config_path} is not a model config (expected a JSON object)")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ExportError(
            f"{path} has no model weights (*.safetensors or *.bin): copy model.safetensors from where "
            "the model was trained, or train again"
        )
    return config


def read_source(path: Path, max_length: int | None = None) -> SourceModel:
    path = Path(path)
    config = _read_config(path)
    model_type = str(config.get("model_type", ""))
    if not _exportable(model_type):
        raise ExportError(
            f"Optimum cannot export model type {model_type!r} for text classification; "
            f"supported: {', '.join(supported_model_types())}"
        )

    handoff = read_handoff(path)
    id2label = config.get("id2label") or {}
    n = int(config.get("num_labels") or len(id2label) or 2)
    labels = tuple(str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(n))
    if handoff is not None and handoff.labels != labels:
        raise ExportError(
            f"{path}: the labels in clf_train.json differ from config.json's id2label; "
            "the folder was edited after training: retrain, or restore the files"
        )
    task = handoff.task if handoff else TASK_OF_PROBLEM_TYPE.get(config.get("problem_type") or "")
    if task is None:
        # transformers' own rule: one output means regression, several mean single-label.
        task = "regression" if n == 1 else "single_label"
    positions = int(config.get("max_position_embeddings") or 512)
    if max_length is None:
        max_length = handoff.max_length if handoff else min(positions, 512)
    if not 2 <= max_length <= positions:
        raise ExportError(f"--max-length {max_length} is outside 2..{positions} for this model")
    check_model_files(path, config)  # tokenizer and weights whole, weights fit config.json
    validation = path / VALIDATION_NAME
    return SourceModel(
        path=path,
        model_type=model_type,
        task=task,
        labels=labels,
        text_pair=handoff.text_pair if handoff else False,
        max_length=max_length,
        thresholds=tuple(float(t) for t in handoff.thresholds) if handoff and handoff.thresholds else None,
        validation=validation if validation.is_file() else None,
        train_metrics=dict(handoff.metrics) if handoff else {},
        label_separator=handoff.label_separator if handoff else ";",
        **_long_text_and_calibration(
            handoff.long_text if handoff else None, handoff.calibration if handoff else None, path
        ),
    )


def _long_text_and_calibration(long_text: Any, calibration: Any, where: Path) -> dict[str, Any]:
    try:
        return {
            "long_text": LongText.from_json(long_text),
            "calibration": Calibration.from_json(calibration),
        }
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{where}: bad long_text or calibration ({exc}); train the model again") from exc
