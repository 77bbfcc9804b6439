"""What a person sees while training: one progress bar and one line per epoch.

The Trainer's own ProgressCallback prints every log dictionary between progress bars; this one
keeps its bars (training steps; evaluation passes stay hidden) and prints, after each evaluation,
`epoch 2/5  loss 0.4123  accuracy 0.9120 (best)`.
"""

from __future__ import annotations

from typing import Any

from transformers.trainer_callback import ProgressCallback


class EpochLines(ProgressCallback):
    def __init__(self, main_metric: str):
        super().__init__()
        self.main_metric = main_metric
        self.loss: float | None = None
        self.best: float | None = None

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        pass  # no bar per evaluation pass: the epoch line says what it found

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **_: Any) -> None:
        value = (metrics or {}).get(f"eval_{self.main_metric}")
        if not state.is_world_process_zero or value is None:
            return
        best = self.best is None or value > self.best
        self.best = value if best else self.best
        epochs = args.num_train_epochs if args.max_steps <= 0 else None
        where = f"epoch {state.epoch:.0f}/{epochs:.0f}" if epochs else f"step {state.global_step}"
        loss = f"  loss {self.loss:.4f}" if self.loss is not None else ""
        line = f"{where}{loss}  {self.main_metric} {value:.4f}{'  (best)' if best else ''}"
        if self.training_bar is not None:
            self.training_bar.write(line)
        else:
            print(line, flush=True)
