"""The Hugging Face Trainer as clf-train uses it: loss, optimizer groups, checkpoint metric, arguments.

- `ClfTrainer`: the Trainer with clf's loss (clf_train.objective) and, with `--head-learning-rate`,
  a second learning rate for the classification head.
- `checkpoint_metrics`: what picks the kept checkpoint (the task's main metric, on texts).
- `training_arguments` / `build_trainer`: a TrainConfig turned into a ready Trainer.

Importing this module imports transformers and torch: clf_train.training imports it only in train().
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

from clf_runtime.long_text import aggregate
from clf_runtime.prediction import sigmoid
from clf_train import metrics as M
from clf_train.config import TrainConfig
from clf_train.data import TaskData
from clf_train.model import HEAD_MODULES
from clf_train.objective import EncodedSplit, TargetScale, loss, loss_weights
from clf_train.reference import MAIN_METRIC, forward_inputs, label_ids
from clf_train.thresholds import global_threshold


class ClfTrainer(Trainer):
    """A Trainer with the task's (weighted) loss and an optional separate head learning rate."""

    def __init__(self, *args: Any, task: str, weights: Any, head_learning_rate: float | None, **kw: Any):
        super().__init__(*args, **kw)
        self.loss_task = task
        self.loss_weights = weights
        self.head_learning_rate = head_learning_rate

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        value = loss(outputs.logits, labels, self.loss_task, self.loss_weights)
        return (value, outputs) if return_outputs else value

    def create_optimizer(self):
        if self.head_learning_rate is None or self.optimizer is not None:
            return super().create_optimizer()
        head, body = [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (head if any(f".{m}." in f".{name}" for m in HEAD_MODULES) else body).append(p)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": body, "lr": self.args.learning_rate},
                {"params": head, "lr": self.head_learning_rate},
            ],
            weight_decay=self.args.weight_decay,
        )
        return self.optimizer


def checkpoint_metrics(
    eval_pred: Any, data: TaskData, starts: np.ndarray | None, how: str, scale: TargetScale | None = None
) -> dict[str, float]:
    """The validation metrics a checkpoint is judged by, one row per text (windows aggregated), on
    the data's own scale (regression trained on standardized targets)."""
    logits = eval_pred.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    if scale is not None:
        logits = scale.original(logits)
    if starts is not None:
        logits = aggregate(logits, starts, how)
    thresholds = None
    if data.task == "multi_label":
        # Select checkpoints by micro-F1 at the best single threshold, not at 0.5: early in
        # training no probability reaches 0.5, and early stopping would end the run there.
        y = label_ids(data.validation.labels, data.task, data.label_names)
        thresholds = np.full(len(data.label_names), global_threshold(sigmoid(logits), y))
    values = M.compute(logits, data.validation.labels, data.task, data.label_names, thresholds, full=False)
    return {k: v for k, v in values.items() if isinstance(v, float)}


def ddp_backend() -> str | None:
    """gloo when a launcher (torchrun, accelerate) started several processes and there is no GPU.

    Without it the Trainer on CPU ignores the process group: every process trained alone on all the
    data and each wrote the output (seen with torchrun --nproc_per_node 2).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return "gloo"
    return None


def training_arguments(config: TrainConfig, main_metric: str, checkpoints: Path) -> TrainingArguments:
    """Epoch-wise evaluation and saving; with --max-steps (tests, smoke runs) twice per run."""
    by_epoch = config.max_steps < 0
    every = max(1, config.max_steps // 2) if config.max_steps > 0 else None
    return TrainingArguments(
        output_dir=str(checkpoints),
        learning_rate=config.lr,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 64),
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy="epoch" if by_epoch else "steps",
        save_strategy="epoch" if by_epoch else "steps",
        eval_steps=every,
        save_steps=every,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=main_metric,
        greater_is_better=True,
        logging_strategy="epoch" if by_epoch else "steps",
        logging_steps=1 if config.max_steps > 0 else 500,
        seed=config.seed,
        data_seed=config.seed,
        report_to=list(config.report_to),
        disable_tqdm=not config.progress,
        dataloader_num_workers=0,
        save_safetensors=True,
        ddp_backend=ddp_backend(),
    )


def build_trainer(
    model: Any,
    tokenizer: Any,
    data: TaskData,
    config: TrainConfig,
    checkpoints: Path,
    scale: TargetScale | None = None,
):
    """A ClfTrainer for this model, data and (resolved) config, checkpointing into `checkpoints`;
    regression targets standardized with `scale` when given."""
    main = MAIN_METRIC[data.task]
    keep = forward_inputs(model)
    encode = functools.partial(
        EncodedSplit,
        tokenizer=tokenizer,
        task=data.task,
        names=data.label_names,
        max_length=config.max_length,
        keep=keep,
        long_text=config.long_text,
        scale=scale,
    )
    eval_set = encode(data.validation)
    trainer = ClfTrainer(
        model=model,
        args=training_arguments(config, main, checkpoints),
        train_dataset=encode(data.train),
        eval_dataset=eval_set,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=functools.partial(
            checkpoint_metrics,
            data=data,
            starts=eval_set.starts,
            how=config.long_text.aggregate,
            scale=scale,
        ),
        callbacks=[EarlyStoppingCallback(config.patience)] if config.patience else [],
        task=data.task,
        weights=loss_weights(data, config),
        head_learning_rate=config.head_learning_rate,
    )
    if config.progress:  # one bar and a line per epoch instead of the Trainer's log dictionaries
        from transformers.trainer_callback import ProgressCallback

        from clf_train.progress import EpochLines

        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(EpochLines(main))
    return trainer
