"""Did the run diverge? One line saying so, with the fix, instead of quietly keeping an early epoch.

Two signs, read from the Trainer's history after training:
- the validation metric collapsed: an evaluation after the kept (best) one fell more than
  `METRIC_COLLAPSE` below it;
- the training loss did not fall: the mean of the last quarter of the logged losses is not below the
  mean of the first quarter (with one log per epoch: the last epoch's loss is not below the first's).

Not here: the recipes that avoid it (clf_train.config.RECIPES).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The diverging run (SICK regression, LoRA 2e-3 on raw 1-5 scores) fell 0.25 in Pearson
# after its first epoch; over-fitting on the sweep's data sets moves the main metric by hundredths
# between epochs. 0.1 is far from both.
METRIC_COLLAPSE = 0.1
LOWER_LR = 4  # the fix suggests the learning rate divided by this


def history(log_history: list[dict[str, Any]], main_metric: str) -> tuple[list[float], list[float]]:
    """The validation main metric at each evaluation and the training loss at each logging step."""
    metrics = [float(e[f"eval_{main_metric}"]) for e in log_history if f"eval_{main_metric}" in e]
    losses = [float(e["loss"]) for e in log_history if "loss" in e]
    return metrics, losses


def diagnose(metrics: list[float], losses: list[float], main_metric: str, learning_rate: float) -> str | None:
    """One line naming the divergence and the fix, or None for a run that looks healthy."""
    lower = learning_rate / LOWER_LR
    fix = f"retry with a lower --learning-rate (this run {_lr(learning_rate)}; try {_lr(lower)})"
    if len(metrics) >= 2:
        best = int(np.argmax(metrics))
        worst_after = min(metrics[best + 1 :], default=metrics[best])
        if metrics[best] - worst_after > METRIC_COLLAPSE:
            return (
                f"training diverged: validation {main_metric} fell from {metrics[best]:.4f} "
                f"(evaluation {best + 1}, the one kept) to {worst_after:.4f} later; {fix}"
            )
    if len(losses) >= 2:
        k = max(1, len(losses) // 4)
        first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
        if last >= first:
            return f"training diverged: the training loss did not fall ({first:.4f} -> {last:.4f}); {fix}"
    return None


def _lr(value: float) -> str:
    """2e-3, 5e-4, 2.5e-4: learning rates as the CLI's help writes them."""
    return f"{value:.1e}".replace(".0e", "e").replace("e-0", "e-")
