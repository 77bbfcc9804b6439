"""`train()`: one fine-tuning run from a TrainConfig to a finished output folder.

The output folder is assembled in a temporary folder and renamed into place at the end, so an
interrupted run never leaves a folder that looks finished. Checkpoints live beside it in
`<output>.checkpoints` so that `--resume` can continue after an interruption.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from clf_runtime.defaults import VALIDATION_NAME
from clf_runtime.errors import InputError
from clf_runtime.handoff import TrainHandoff, write_handoff
from clf_runtime.long_text import LongText, aggregate
from clf_runtime.outdir import check_output, output_folder
from clf_train import calibrate, reference
from clf_train import long_text as LT
from clf_train import metrics as M
from clf_train.config import METHODS, TrainConfig
from clf_train.data import Split, TaskData, load_task_data, save_jsonl
from clf_train.model import HEAD_MODULES, add_lora, count_parameters, load_model, merge_lora
from clf_train.reference import forward_inputs
from clf_train.report import write_report

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
    resumed_from: str | None = None  # checkpoint folder the run continued from
    validation_logits: np.ndarray | None = None  # of the saved model, for sweeps and analysis
    test_logits: np.ndarray | None = None


class EncodedSplit:
    """A torch Dataset of tokenized rows (padding happens per batch in the collator).

    With a windows strategy a long text gives several rows (windows), each with the text's label;
    `starts` then says which rows belong to which text (None: one row per text).
    """

    def __init__(
        self,
        split: Split,
        tokenizer: Any,
        task: str,
        names: tuple[str, ...],
        max_length: int,
        keep: set[str],
        long_text: LongText | None = None,
    ):
        self.starts: np.ndarray | None = None
        if long_text is not None and long_text.strategy != "truncate":
            encoded = LT.encode_split(tokenizer, split.texts, split.pairs, max_length, long_text)
            self.features = LT.features(encoded, keep)
            labels = M.label_ids(split.labels, task, names)
            self.labels = np.repeat(labels, np.diff(encoded.starts), axis=0)
            self.starts = None if encoded.one_per_text else encoded.starts
            return
        if split.pairs is None:
            enc = tokenizer(split.texts, truncation=True, max_length=max_length)
        else:
            enc = tokenizer(split.texts, split.pairs, truncation=True, max_length=max_length)
        keys = [k for k in enc if k in keep]
        self.features = [
            dict(zip(keys, values, strict=True)) for values in zip(*(enc[k] for k in keys), strict=True)
        ]
        self.labels = M.label_ids(split.labels, task, names)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.features[i], "labels": self.labels[i]}


def sample_data_paths() -> tuple[Path, Path]:
    from clf_train.sample_data import SUPPORT_TEST, SUPPORT_TRAIN

    return SUPPORT_TRAIN, SUPPORT_TEST


def _loss_weights(data: TaskData, config: TrainConfig):  # -> torch.Tensor | None
    import torch

    y = M.label_ids(data.train.labels, data.task, data.label_names)
    if data.task == "multi_label":
        if config.multi_label_loss == "bce":
            return None
        # Rare labels would otherwise be learnt as "always absent" (the collapse seen with plain BCE).
        pos = y.sum(axis=0)
        ratio = (len(y) - pos) / np.maximum(pos, 1)
        if config.multi_label_loss == "sqrt-weighted":
            return torch.tensor(np.clip(np.sqrt(ratio), 1.0, 10.0), dtype=torch.float32)
        return torch.tensor(np.clip(ratio, 1.0, 30.0), dtype=torch.float32)
    if data.task == "single_label" and config.class_weights == "balanced":
        counts = np.bincount(y, minlength=len(data.label_names)).astype(np.float64)
        weights = len(y) / (len(counts) * np.maximum(counts, 1))
        return torch.tensor(weights, dtype=torch.float32)
    return None


def _ddp_backend() -> str | None:
    """gloo when a launcher (torchrun, accelerate) started several processes and there is no GPU.

    Without it the Trainer on CPU ignores the process group: every process trained alone on all the
    data and each wrote the output (seen with torchrun --nproc_per_node 2).
    """
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return "gloo"
    return None


def _make_trainer(model, tokenizer, data: TaskData, config: TrainConfig, checkpoints: Path):
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

    weights = _loss_weights(data, config)
    main = M.MAIN_METRIC[data.task]
    keep = forward_inputs(model)

    class ClfTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits
            if data.task == "multi_label":
                w = weights.to(logits.device) if weights is not None else None
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, labels.float(), pos_weight=w
                )
            elif data.task == "regression":
                loss = torch.nn.functional.mse_loss(logits.squeeze(-1), labels.float())
            else:
                w = weights.to(logits.device) if weights is not None else None
                loss = torch.nn.functional.cross_entropy(logits, labels, weight=w)
            return (loss, outputs) if return_outputs else loss

        def create_optimizer(self):
            if config.head_learning_rate is None or self.optimizer is not None:
                return super().create_optimizer()
            head, body = [], []
            for name, p in self.model.named_parameters():
                if p.requires_grad:
                    (head if any(f".{m}." in f".{name}" for m in HEAD_MODULES) else body).append(p)
            self.optimizer = torch.optim.AdamW(
                [{"params": body, "lr": config.lr}, {"params": head, "lr": config.head_learning_rate}],
                weight_decay=config.weight_decay,
            )
            return self.optimizer

    eval_set = EncodedSplit(
        data.validation, tokenizer, data.task, data.label_names, config.max_length, keep, config.long_text
    )

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        if eval_set.starts is not None:  # windows: metrics per text, after aggregation
            logits = aggregate(logits, eval_set.starts, config.long_text.aggregate)
        thresholds = None
        if data.task == "multi_label":
            # Select checkpoints by micro-F1 at the best single threshold, not at 0.5: early in
            # training no probability reaches 0.5, and early stopping would end the run there.
            from clf_runtime.prediction import sigmoid
            from clf_train.thresholds import global_threshold

            y = M.label_ids(data.validation.labels, data.task, data.label_names)
            thresholds = np.full(len(data.label_names), global_threshold(sigmoid(logits), y))
        values = M.compute(
            logits, data.validation.labels, data.task, data.label_names, thresholds, full=False
        )
        return {k: v for k, v in values.items() if isinstance(v, float)}

    args = TrainingArguments(
        output_dir=str(checkpoints),
        learning_rate=config.lr,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 64),
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy="epoch" if config.max_steps < 0 else "steps",
        save_strategy="epoch" if config.max_steps < 0 else "steps",
        eval_steps=max(1, config.max_steps // 2) if config.max_steps > 0 else None,
        save_steps=max(1, config.max_steps // 2) if config.max_steps > 0 else None,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=main,
        greater_is_better=True,
        logging_strategy="epoch" if config.max_steps < 0 else "steps",
        logging_steps=1 if config.max_steps > 0 else 500,
        seed=config.seed,
        data_seed=config.seed,
        report_to=list(config.report_to),
        disable_tqdm=not config.progress,
        dataloader_num_workers=0,
        save_safetensors=True,
        ddp_backend=_ddp_backend(),
    )
    callbacks = [EarlyStoppingCallback(config.patience)] if config.patience else []
    trainer = ClfTrainer(
        model=model,
        args=args,
        train_dataset=EncodedSplit(
            data.train, tokenizer, data.task, data.label_names, config.max_length, keep, config.long_text
        ),
        eval_dataset=eval_set,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    if config.progress:  # one bar and a line per epoch instead of the Trainer's log dictionaries
        from transformers.trainer_callback import ProgressCallback

        from clf_train.progress import EpochLines

        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(EpochLines(main))
    return trainer


def predict_logits(
    model, tokenizer, split: Split, max_length: int, batch_size: int = 64, long_text: LongText | None = None
) -> np.ndarray:
    return reference.logits(
        model,
        tokenizer,
        split.texts,
        split.pairs,
        max_length=max_length,
        batch_size=batch_size,
        long_text=long_text,
    )


def load_data(config: TrainConfig) -> TaskData:
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


def train(config: TrainConfig, data: TaskData | None = None) -> TrainResult | None:
    import torch
    from transformers import set_seed

    if config.method not in METHODS:
        raise InputError(f"unknown --method {config.method!r}; choose one of {', '.join(METHODS)}")
    if config.max_length < 8:
        raise InputError(f"--max-length {config.max_length} is too small (at least 8)")
    inputs = run_inputs(config)
    check_output(config.output, OUTPUT_TOOL, config.overwrite, inputs)  # before a long run, not after
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    data = data or load_data(config)
    config = config.resolved(data.task, len(data.train))
    set_seed(config.seed)
    model, tokenizer = load_model(config.model, data.task, data.label_names)
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions and config.max_length > positions:
        config = replace(config, max_length=positions)
    config = replace(
        config, long_text=LT.resolve(tokenizer, config.max_length, config.long_text, data.text_pair)
    )
    if config.method == "lora":
        model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets)
    trainable, total = count_parameters(model)

    output = Path(config.output)
    checkpoints = Path(f"{output}.checkpoints")
    resume_from = None
    if config.resume:
        from transformers.trainer_utils import get_last_checkpoint

        resume_from = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
        if resume_from is None:
            log.warning("--resume: no checkpoint in %s, starting from the beginning", checkpoints)
    trainer = _make_trainer(model, tokenizer, data, config, checkpoints)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start
    model = trainer.model
    if not trainer.is_world_process_zero():
        return None  # under torchrun/accelerate every rank trains; rank 0 evaluates and writes

    with output_folder(output, OUTPUT_TOOL, config.overwrite, inputs) as tmp:
        if config.method == "lora":
            model.save_pretrained(tmp / "adapter")
            before = predict_logits(
                model, tokenizer, data.validation, config.max_length, long_text=config.long_text
            )
            model = merge_lora(model)
        # The merged (or full) model's validation logits: the report's and, for LoRA, the merge check's.
        logits = predict_logits(
            model, tokenizer, data.validation, config.max_length, long_text=config.long_text
        )
        if config.method == "lora":
            drift = float(np.abs(before - logits).max())
            if drift > 1e-3:
                raise InputError(
                    f"merging the LoRA adapter changed the logits by {drift:.2e}; keep --method full"
                )
        thresholds = None
        val_metrics = M.compute(logits, data.validation.labels, data.task, data.label_names)
        if data.task == "multi_label" and config.tune_thresholds:
            y = M.label_ids(data.validation.labels, data.task, data.label_names)
            thresholds = M.tune_thresholds(logits, y)
            val_metrics = {
                "at_0.5": val_metrics,
                "tuned": M.compute(logits, data.validation.labels, data.task, data.label_names, thresholds),
                "note": "thresholds are tuned on this same validation split: optimistic",
            }
        test_metrics, test_logits = None, None
        if data.test is not None:
            test_logits = predict_logits(
                model, tokenizer, data.test, config.max_length, long_text=config.long_text
            )
            test_metrics = M.compute(test_logits, data.test.labels, data.task, data.label_names, thresholds)
        calibration, calibration_report = calibrate.fit_and_report(logits, test_logits, data)

        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        save_jsonl(data.validation, tmp / VALIDATION_NAME)
        summary = {
            "method": config.method,
            "base_model": config.model,
            "task": data.task,
            "train_rows": len(data.train),
            "validation_rows": len(data.validation),
            "validation_source": str(config.validation)
            if config.validation
            else f"a {config.validation_split:.0%} stratified split of the training file (no --validation)",
            "train_seconds": round(seconds, 1),
            "trainable_params": trainable,
            "total_params": total,
            "device": str(trainer.args.device),
            "processes": trainer.args.world_size,
            "torch": torch.__version__,
        }
        report = {
            "summary": summary,
            "validation": val_metrics,
            "test": test_metrics,
            "calibration": calibration_report,
        }
        # Thresholds on calibrated scores, which is what the runtime thresholds (same decisions).
        calibrated = calibrate.thresholds_for(calibration, thresholds)
        handoff = TrainHandoff(
            task=data.task,
            labels=data.label_names,
            text_pair=data.text_pair,
            max_length=config.max_length,
            thresholds=tuple(calibrated) if calibrated is not None else None,
            label_separator=config.label_separator,
            metrics={"validation": _headline(val_metrics), "test": _headline(test_metrics)},
            long_text=config.long_text.to_json(),
            calibration=calibration.to_json() if calibration is not None else None,
        )
        write_handoff(tmp, handoff)
        (tmp / "metrics.json").write_text(json.dumps(report, indent=2))
        args = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
        (tmp / "training_args.json").write_text(json.dumps(args, indent=2))
        write_report(tmp, report, data.label_names, data.task)
        calibrate.write_report(tmp, calibration, calibration_report, logits, data)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return TrainResult(
        output=output,
        task=data.task,
        labels=data.label_names,
        metrics=val_metrics,
        test_metrics=test_metrics,
        train_seconds=seconds,
        trainable_params=trainable,
        total_params=total,
        thresholds=thresholds.tolist() if thresholds is not None else None,
        loss_history=[e["loss"] for e in trainer.state.log_history if "loss" in e],
        resumed_from=Path(resume_from).name if resume_from else None,
        validation_logits=logits,
        test_logits=test_logits if data.test is not None else None,
    )


def _headline(values: dict[str, Any] | None) -> dict[str, float]:
    if values is None:
        return {}
    values = values.get("tuned", values)
    return {k: v for k, v in values.items() if isinstance(v, float)}
