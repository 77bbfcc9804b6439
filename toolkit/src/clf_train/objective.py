"""What the model learns from and against: the tokenized dataset and the loss.

- `EncodedSplit`: a Split tokenized into model inputs (long texts cut into windows when asked).
- `loss_weights`: per-class weights (single-label, `--class-weights balanced`) or per-label
  `pos_weight` (multi-label, `--multi-label-loss`), from the training labels.
- `loss`: cross-entropy, BCE with logits or MSE by task, with those weights.
- `TargetScale` / `target_scale`: regression targets standardized for training (mean 0, std 1),
  folded back into the head's output layer afterwards, so the saved model predicts on the data's scale.

Torch is imported inside the functions. Not here: the Trainer that calls `loss` (clf_train.trainer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clf_runtime.long_text import LongText
from clf_train import long_text as LT
from clf_train.config import TrainConfig
from clf_train.data import Split, TaskData
from clf_train.reference import label_ids

# pos_weight = negatives/positives per label, clipped: rare labels were otherwise learnt as "always
# absent" with plain BCE. Bounds per --multi-label-loss (clf_train.config.MULTI_LABEL_LOSSES).
POS_WEIGHT_BOUNDS = {"weighted": (1.0, 30.0), "sqrt-weighted": (1.0, 10.0)}


@dataclass(frozen=True)
class TargetScale:
    """Regression targets as the model learns them: (y - mean) / std of the training targets.

    Why: on SICK (scores 1 to 5, mean 3.5) the default LoRA recipe trained on raw scores collapsed
    (validation Pearson 0.53 after one epoch, 0.28 after two): the head starts near 0 and Adam moves
    its bias by about the learning rate per step, so it spent the run chasing the offset. With
    standardized targets the fresh head already predicts the mean (README, "How the defaults were chosen").
    """

    mean: float
    std: float

    def standardize(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.mean) / self.std).astype(np.float32)

    def original(self, pred: np.ndarray) -> np.ndarray:
        return pred * self.std + self.mean

    def fold_into(self, layer: Any) -> None:
        """Make a linear output layer predict on the original scale: w' = w * std, b' = b * std + mean."""
        import torch

        with torch.no_grad():
            layer.weight.mul_(self.std)
            if layer.bias is None:
                layer.bias = torch.nn.Parameter(torch.zeros(layer.out_features, dtype=layer.weight.dtype))
            layer.bias.mul_(self.std).add_(self.mean)


def target_scale(data: TaskData, config: TrainConfig) -> TargetScale | None:
    """The training targets' scale (regression with standardize_targets), else None."""
    if data.task != "regression" or not config.standardize_targets:
        return None
    y = label_ids(data.train.labels, data.task, data.label_names).astype(np.float64)
    std = float(y.std())
    return TargetScale(float(y.mean()), std if std > 0 else 1.0)


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
        scale: TargetScale | None = None,
    ):
        self.starts: np.ndarray | None = None
        labels = label_ids(split.labels, task, names)
        if scale is not None:
            labels = scale.standardize(labels)
        if long_text is not None and long_text.strategy != "truncate":
            encoded = LT.encode_split(tokenizer, split.texts, split.pairs, max_length, long_text)
            self.features = LT.features(encoded, keep)
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
        self.labels = labels

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.features[i], "labels": self.labels[i]}


def loss_weights(data: TaskData, config: TrainConfig):  # -> torch.Tensor | None
    """Class weights (single-label, balanced) or multi-label pos_weight; None for a plain loss."""
    import torch

    y = label_ids(data.train.labels, data.task, data.label_names)
    if data.task == "multi_label":
        if config.multi_label_loss == "bce":
            return None
        pos = y.sum(axis=0)
        ratio = (len(y) - pos) / np.maximum(pos, 1)
        if config.multi_label_loss == "sqrt-weighted":
            ratio = np.sqrt(ratio)
        low, high = POS_WEIGHT_BOUNDS.get(config.multi_label_loss, POS_WEIGHT_BOUNDS["weighted"])
        return torch.tensor(np.clip(ratio, low, high), dtype=torch.float32)
    if data.task == "single_label" and config.class_weights == "balanced":
        counts = np.bincount(y, minlength=len(data.label_names)).astype(np.float64)
        weights = len(y) / (len(counts) * np.maximum(counts, 1))
        return torch.tensor(weights, dtype=torch.float32)
    return None


def loss(logits: Any, labels: Any, task: str, weights: Any = None):  # -> torch.Tensor
    """The task's loss on a batch; `weights` from `loss_weights` (moved to the logits' device)."""
    from torch.nn import functional

    w = weights.to(logits.device) if weights is not None else None
    if task == "multi_label":
        return functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=w)
    if task == "regression":
        return functional.mse_loss(logits.squeeze(-1), labels.float())
    return functional.cross_entropy(logits, labels, weight=w)
