"""TrainConfig: every knob of a training run, with defaults chosen for small encoders on 2 CPU cores."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from clf_runtime.defaults import TRAINED_DIR
from clf_runtime.long_text import LongText

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TRAINING_METHODS = ("auto", "full", "lora")
MIN_MAX_LENGTH = 8  # the smallest --max-length clf-train accepts


@dataclass(frozen=True)
class Recipe:
    """The defaults a run takes for what the user did not set."""

    learning_rate: float
    epochs: float
    patience: int


# Chosen with benchmarks/sweep.py on Banking77, 20 Newsgroups, GoEmotions, a long-tailed multi-label
# set and the sample data, 2,000 rows to 10,003 (README, "How the defaults were chosen"). LoRA on
# every linear layer of the encoder (r=16) was best or within 0.6 points of the best recipe on every
# data set, the 172-row sample included, so `auto` means LoRA at every size. Multi-label gained 1 to
# 11 points of micro-F1 from 10 epochs instead of 5; single-label did not (within -1.5..+0.5).
RECIPES: dict[tuple[str, str], Recipe] = {
    ("lora", "single_label"): Recipe(2e-3, 5.0, 2),
    # Regression, on standardized targets (TrainConfig.standardize_targets): SICK relatedness pairs,
    # test Pearson 0.879 (int8 0.877), validation rising every epoch; on raw 1-5 scores this recipe
    # collapsed after epoch 1 (README, "Sentence pairs and regression: SICK").
    ("lora", "regression"): Recipe(2e-3, 5.0, 2),
    ("lora", "multi_label"): Recipe(1e-3, 10.0, 3),
    # Full fine-tuning: MiniLM needs more than BERT's usual 5e-5 (1e-4 lost 0.5 to 6 points to 2e-4).
    ("full", "single_label"): Recipe(2e-4, 5.0, 2),
    ("full", "regression"): Recipe(2e-4, 5.0, 2),
    ("full", "multi_label"): Recipe(2e-4, 10.0, 3),
}
AUTO = -1  # patience: take the recipe's


def resolve_method(method: str) -> str:
    """`auto` is LoRA: it matched or beat full fine-tuning at every measured size (172 to 10,003
    training rows), so the choice does not depend on the data's size."""
    return "lora" if method == "auto" else method


# Windows (mean of the logits, stride a quarter of a window, at most 8): on 20 Newsgroups they beat
# truncation by 2.2 points and head-tail by 11.5 with the same model; on Banking77, where no text
# reaches 128 tokens, every strategy gives the same inputs (README, "Long texts").
DEFAULT_LONG_TEXT = "windows"

TASK_CHOICES = ("auto", "single-label", "multi-label", "regression")
# Multi-label losses: plain BCE; BCE with pos_weight = negatives/positives per label clipped to 1..30
# ("weighted"); the square root of that ratio clipped to 1..10 ("sqrt-weighted").
REPORT_TO = ("tensorboard", "mlflow", "wandb")
MULTI_LABEL_LOSSES = ("bce", "weighted", "sqrt-weighted")


@dataclass(frozen=True)
class TrainConfig:
    data: Path | None = None  # None: the sample data shipped with clf_train
    validation: Path | None = None
    validation_split: float = 0.1
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_separator: str = ";"
    task: str = "auto"
    model: str = DEFAULT_MODEL
    method: str = "auto"
    output: Path = TRAINED_DIR
    overwrite: bool = False  # replace another clf tool's output folder (never a user's files)
    # 256: on 20 Newsgroups (long posts) 256 tokens gained 4.5-5 points over 128; short texts cost
    # nothing more, since batches are padded to their longest text, not to max_length.
    max_length: int = 256
    epochs: float | None = None  # None: the recipe's (5; 10 for multi-label)
    learning_rate: float | None = None  # None: the recipe's (LoRA 2e-3, 1e-3 multi-label; full 2e-4)
    head_learning_rate: float | None = None  # None: same as learning_rate
    batch_size: int = 32
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    patience: int | None = AUTO  # epochs without improvement before stopping; None: never stop early
    seed: int = 42
    class_weights: str | None = None  # None or "balanced"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] | None = None  # None: every linear layer of the encoder
    resume: bool = False
    multi_label_loss: str = "weighted"
    # Regression: train on (y - mean) / std of the training targets, folded back into the head after
    # training (clf_train.objective.TargetScale); without it the default LoRA recipe diverged on SICK.
    standardize_targets: bool = True
    tune_thresholds: bool = True  # multi-label: per-label thresholds chosen on validation
    max_steps: int = -1  # for tests and smoke runs
    # Texts longer than max_length (truncate, head-tail, windows); recorded in the manifest.
    long_text: LongText = field(default_factory=lambda: LongText(DEFAULT_LONG_TEXT))
    progress: bool = True
    report_to: tuple[str, ...] = ()  # the Trainer's integrations: tensorboard, mlflow, wandb

    def resolved(self, task: str) -> TrainConfig:
        """This config with `auto` and every unset default filled in for the task."""
        method = resolve_method(self.method)
        recipe = RECIPES[(method, task)]
        return replace(
            self,
            method=method,
            learning_rate=self.learning_rate if self.learning_rate is not None else recipe.learning_rate,
            epochs=self.epochs if self.epochs is not None else recipe.epochs,
            patience=recipe.patience if self.patience == AUTO else self.patience,
        )

    @property
    def lr(self) -> float:
        if self.learning_rate is None:
            raise ValueError("learning rate not resolved: call TrainConfig.resolved(task) first")
        return self.learning_rate
