"""clf_train: fine-tune a small encoder for text classification and report how good it is.

    from clf_train import TrainConfig, train
    result = train(TrainConfig(data="tickets.csv"))

Single-label, multi-label, regression and sentence-pair tasks; full fine-tuning or LoRA (merged
into the base weights before saving, so export sees a plain model).
"""

from __future__ import annotations

from clf_train.config import TrainConfig
from clf_train.training import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
