"""`train()`: one fine-tuning run from a TrainConfig to a finished output folder, as a recipe.

The steps, each a short function: check the config and the output path, load the data, set up the
model (LoRA-wrapped when asked), fit it with the Trainer (clf_train.trainer), then inside the
output folder merge and evaluate it (clf_train.evaluation) and write everything (clf_train.outputs).

The output folder is assembled in a temporary folder and renamed into place at the end, so an
interrupted run never leaves a folder that looks finished. Checkpoints live beside it in
`<output>.checkpoints` so that `--resume` can continue after an interruption.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from clf_runtime.errors import InputError
from clf_runtime.outdir import check_output, output_folder
from clf_train import divergence, evaluation, outputs, quiet
from clf_train import long_text as LT
from clf_train.config import MIN_MAX_LENGTH, TRAINING_METHODS, TrainConfig
from clf_train.data import TaskData, load_task_data
from clf_train.model import add_lora, count_parameters, load_model, output_layer
from clf_train.objective import TargetScale, target_scale
from clf_train.reference import MAIN_METRIC

log = logging.getLogger("clf_train")
OUTPUT_TOOL = "clf-train"  # the owner named in the output folder's marker (clf_runtime.outdir)


def run_inputs(config: TrainConfig) -> tuple[Path | None, ...]:
    """Files and folders a run reads: its --output must not hold them."""
    model = Path(config.model)
    return (config.data, config.validation, model if model.exists() else None)


@dataclass
class TrainResult:
    output: Path
    task: str
    labels: tuple[str, ...]
    metrics: dict[str, Any]  # validation metrics of the kept checkpoint
    test_metrics: dict[str, Any] | None
    train_seconds: float
    trainable_params: int
    total_params: int
    thresholds: list[float] | None = None
    loss_history: list[float] | None = None  # training loss at each logging step
    metric_history: list[float] | None = None  # validation main metric at each evaluation
    divergence: str | None = None  # the line clf_train.divergence printed, if the run diverged
    resumed_from: str | None = None  # checkpoint folder the run continued from
    validation_logits: np.ndarray | None = None  # of the saved model, for sweeps and analysis
    test_logits: np.ndarray | None = None


def sample_data_paths() -> tuple[Path, Path]:
    from clf_train.sample_data import SUPPORT_TEST, SUPPORT_TRAIN

    return SUPPORT_TRAIN, SUPPORT_TEST


def load_data(config: TrainConfig) -> TaskData:
    """The run's data: --data (and --validation), else the shipped sample data with its test split."""
    data_path, validation, test = config.data, config.validation, None
    if data_path is None:
        data_path, test = sample_data_paths()
    return load_task_data(
        data_path,
        validation,
        config.text_column,
        config.label_column,
        config.text_pair_column,
        config.task,
        config.label_separator,
        config.validation_split,
        config.seed,
        test=test,
    )


def check_run(config: TrainConfig) -> None:
    """Refuse bad settings and an output path we may not write, before any long work."""
    if config.method not in TRAINING_METHODS:
        raise InputError(f"unknown --method {config.method!r}; choose one of {', '.join(TRAINING_METHODS)}")
    if config.max_length < MIN_MAX_LENGTH:
        raise InputError(f"--max-length {config.max_length} is too small (at least {MIN_MAX_LENGTH})")
    check_output(config.output, OUTPUT_TOOL, config.overwrite, run_inputs(config))


def setup_model(config: TrainConfig, data: TaskData) -> tuple[Any, Any, TrainConfig]:
    """The base model with a fresh head (LoRA-wrapped for --method lora), its tokenizer, and the
    config with max_length capped at the model's positions and the long-text setting resolved."""
    from transformers import set_seed

    set_seed(config.seed)
    model, tokenizer = load_model(config.model, data.task, data.label_names)
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions and config.max_length > positions:
        config = replace(config, max_length=positions)
    long_text = LT.resolve(tokenizer, config.max_length, config.long_text, data.text_pair)
    config = replace(config, long_text=long_text)
    if config.method == "lora":
        model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets)
    return model, tokenizer, config


def last_checkpoint(config: TrainConfig, checkpoints: Path) -> str | None:
    """With --resume, the newest checkpoint of an interrupted run (None: start from the beginning)."""
    if not config.resume:
        return None
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if found is None:
        log.warning("--resume: no checkpoint in %s, starting from the beginning", checkpoints)
    return found


def regression_scale(model: Any, data: TaskData, config: TrainConfig) -> TargetScale | None:
    """The standardization of regression targets, when asked and the head can take it back."""
    scale = target_scale(data, config)
    if scale is not None and output_layer(model) is None:
        log.warning("note: no linear output layer found in the head; regression targets stay unscaled")
        return None
    return scale


def fit(
    model: Any,
    tokenizer: Any,
    data: TaskData,
    config: TrainConfig,
    resume_from: str | None,
    scale: TargetScale | None,
):
    """Train with the Trainer; returns it (its model is the best checkpoint's) and the seconds taken."""
    from clf_train.trainer import build_trainer

    trainer = build_trainer(model, tokenizer, data, config, checkpoints_of(config), scale)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer, time.perf_counter() - start


def checkpoints_of(config: TrainConfig) -> Path:
    return Path(f"{config.output}.checkpoints")


def run_facts(trainer: Any, seconds: float, model: Any) -> outputs.RunFacts:
    import torch

    trainable, total = count_parameters(model)
    device, processes = str(trainer.args.device), trainer.args.world_size
    return outputs.RunFacts(seconds, trainable, total, device, processes, torch.__version__)


def train(config: TrainConfig, data: TaskData | None = None) -> TrainResult | None:
    """Fine-tune, evaluate and write the output folder; None on the non-zero ranks of a distributed run."""
    check_run(config)
    quiet.tokenizers()
    data = data or load_data(config)
    config = config.resolved(data.task)
    model, tokenizer, config = setup_model(config, data)
    scale = regression_scale(model, data, config)
    resume_from = last_checkpoint(config, checkpoints_of(config))
    trainer, seconds = fit(model, tokenizer, data, config, resume_from, scale)
    if not trainer.is_world_process_zero():
        return None  # under torchrun/accelerate every rank trains; rank 0 evaluates and writes
    metric_history, loss_history = divergence.history(trainer.state.log_history, MAIN_METRIC[data.task])
    diverged = divergence.diagnose(metric_history, loss_history, MAIN_METRIC[data.task], config.lr)
    if diverged:
        log.warning("%s", diverged)
    facts = run_facts(trainer, seconds, model)  # parameters as trained (LoRA: before merging)
    with output_folder(Path(config.output), OUTPUT_TOOL, config.overwrite, run_inputs(config)) as tmp:
        if config.method == "lora":
            outputs.write_adapter(tmp, trainer.model)
        model, logits = evaluation.merged_model(trainer.model, tokenizer, data, config, scale)
        result = evaluation.evaluate(model, tokenizer, data, config, logits)
        outputs.write_outputs(tmp, model, tokenizer, data, config, facts, result)
    shutil.rmtree(checkpoints_of(config), ignore_errors=True)
    return replace(
        train_result(config, data, facts, result, resume_from),
        loss_history=loss_history,
        metric_history=metric_history,
        divergence=diverged,
    )


def train_result(
    config: TrainConfig,
    data: TaskData,
    facts: outputs.RunFacts,
    result: evaluation.Evaluation,
    resume_from: str | None,
) -> TrainResult:
    return TrainResult(
        output=Path(config.output),
        task=data.task,
        labels=data.label_names,
        metrics=result.validation_metrics,
        test_metrics=result.test_metrics,
        train_seconds=facts.train_seconds,
        trainable_params=facts.trainable_params,
        total_params=facts.total_params,
        thresholds=result.thresholds.tolist() if result.thresholds is not None else None,
        resumed_from=Path(resume_from).name if resume_from else None,
        validation_logits=result.validation_logits,
        test_logits=result.test_logits,
    )
