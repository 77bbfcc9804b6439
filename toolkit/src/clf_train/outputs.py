"""Everything clf-train writes into its output folder, in one place.

| file | what |
|---|---|
| `config.json`, `model.safetensors`, tokenizer files | the (merged) model, loadable with transformers |
| `adapter/` | LoRA only: the adapter before merging |
| `validation.jsonl`, `clf_train.json` | the handoff to clf-export (formats: clf_train.handoff) |
| `metrics.json` | summary, validation and test metrics, calibration |
| `training_args.json` | the resolved TrainConfig |
| `report.md`, `confusion_matrix.png`, `reliability.png` | for people (clf_train.report, calibrate) |

The caller passes the temporary folder of clf_runtime.outdir.output_folder, which is renamed into
place only when every write here has succeeded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clf_train import calibrate, report
from clf_train.config import TrainConfig
from clf_train.data import TaskData, save_jsonl
from clf_train.evaluation import Evaluation
from clf_train.handoff import VALIDATION_NAME, TrainHandoff, write_handoff
from clf_train.metrics import headline

METRICS_NAME = "metrics.json"
ARGS_NAME = "training_args.json"
ADAPTER_DIR = "adapter"


@dataclass(frozen=True)
class RunFacts:
    """How the training run went, for metrics.json's summary."""

    train_seconds: float
    trainable_params: int
    total_params: int
    device: str
    processes: int
    torch_version: str


def summary(config: TrainConfig, data: TaskData, facts: RunFacts) -> dict[str, Any]:
    if config.validation:
        source = str(config.validation)
    else:
        source = f"a {config.validation_split:.0%} stratified split of the training file (no --validation)"
    return {
        "method": config.method,
        "base_model": config.model,
        "task": data.task,
        "train_rows": len(data.train),
        "validation_rows": len(data.validation),
        "validation_source": source,
        "train_seconds": round(facts.train_seconds, 1),
        "trainable_params": facts.trainable_params,
        "total_params": facts.total_params,
        "device": facts.device,
        "processes": facts.processes,
        "torch": facts.torch_version,
    }


def handoff(config: TrainConfig, data: TaskData, result: Evaluation) -> TrainHandoff:
    """What clf-export needs to know; thresholds on the calibrated scale the runtime thresholds."""
    calibrated = calibrate.thresholds_for(result.calibration, result.thresholds)
    return TrainHandoff(
        task=data.task,
        labels=data.label_names,
        text_pair=data.text_pair,
        max_length=config.max_length,
        thresholds=tuple(calibrated) if calibrated is not None else None,
        label_separator=config.label_separator,
        metrics={"validation": headline(result.validation_metrics), "test": headline(result.test_metrics)},
        long_text=config.long_text.to_json(),
        calibration=result.calibration.to_json() if result.calibration is not None else None,
    )


def write_adapter(folder: Path, peft_model: Any) -> None:
    """The LoRA adapter as trained, before it is merged into the base weights."""
    peft_model.save_pretrained(folder / ADAPTER_DIR)


def write_outputs(
    folder: Path,
    model: Any,
    tokenizer: Any,
    data: TaskData,
    config: TrainConfig,
    facts: RunFacts,
    result: Evaluation,
) -> None:
    """The model, the handoff to clf-export, metrics, arguments and the report."""
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    save_jsonl(data.validation, folder / VALIDATION_NAME)
    write_handoff(folder, handoff(config, data, result))
    metrics = {
        "summary": summary(config, data, facts),
        "validation": result.validation_metrics,
        "test": result.test_metrics,
        "calibration": result.calibration_report,
    }
    (folder / METRICS_NAME).write_text(json.dumps(metrics, indent=2))
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    (folder / ARGS_NAME).write_text(json.dumps(args, indent=2))
    report.write_report(folder, metrics, data.label_names, data.task)
    calibrate.write_report(
        folder, result.calibration, result.calibration_report, result.validation_logits, data
    )
