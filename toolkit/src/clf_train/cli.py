"""`clf-train`: fine-tune on a labelled file (or the sample data) and print the report.

`clf-train compare` trains the same data three ways (no fine-tuning, full, LoRA) side by side.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from clf_runtime.cli import user_errors
from clf_runtime.defaults import TRAINED_DIR
from clf_runtime.errors import InputError
from clf_train import quiet
from clf_train.config import (
    AUTO,
    MIN_MAX_LENGTH,
    REPORT_TO,
    TASK_CHOICES,
    TRAINING_METHODS,
    TrainConfig,
)

DEFAULTS = TrainConfig()


@contextlib.contextmanager
def save_errors() -> Iterator[None]:
    """safetensors reports a full disk as its own error type, not OSError: make it one line too."""
    from safetensors import SafetensorError

    try:
        yield
    except SafetensorError as exc:
        if os.environ.get("CLF_DEBUG") == "1" or "I/O error" not in str(exc):
            raise
        raise InputError(f"cannot save the model: {exc}; free disk space or choose another --output") from exc


# Options shared by training and compare: where the data is, what its columns mean, how to train.
# Defaults come from TrainConfig (DEFAULTS) wherever the CLI and the dataclass mean the same value.
DATA_OPTIONS = [
    click.option(
        "--data",
        type=click.Path(path_type=Path),
        default=None,
        help="CSV, TSV, JSONL or Parquet. Default: the shipped sample data.",
    ),
    click.option(
        "--validation",
        type=click.Path(path_type=Path),
        default=None,
        help="Validation file. Default: a stratified split of --data.",
    ),
    click.option(
        "--validation-split",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=DEFAULTS.validation_split,
        show_default=True,
    ),
    click.option("--text-column", default=DEFAULTS.text_column, show_default=True),
    click.option("--text-pair-column", default=None, help="Second text of sentence pairs."),
    click.option("--label-column", default=DEFAULTS.label_column, show_default=True),
    click.option(
        "--label-separator",
        default=DEFAULTS.label_separator,
        show_default=True,
        help="Separates labels of multi-label rows.",
    ),
    click.option("--task", type=click.Choice(TASK_CHOICES), default=DEFAULTS.task, show_default=True),
    click.option(
        "--model",
        default=DEFAULTS.model,
        show_default=True,
        help="Base encoder: a local folder or a model id.",
    ),
    click.option(
        "--max-length",
        type=click.IntRange(min=MIN_MAX_LENGTH),
        default=DEFAULTS.max_length,
        show_default=True,
    ),
    click.option(
        "--epochs",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Default 5 (10 for multi-label), with early stopping.",
    ),
    click.option(
        "--learning-rate",
        "--lr",
        type=float,
        default=None,
        help="Default: LoRA 2e-3 (1e-3 multi-label), full 2e-4.",
    ),
    click.option("--head-learning-rate", type=float, default=None),
    click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True),
    click.option(
        "--warmup-ratio", type=click.FloatRange(0, 1), default=DEFAULTS.warmup_ratio, show_default=True
    ),
    click.option(
        "--weight-decay", type=click.FloatRange(min=0), default=DEFAULTS.weight_decay, show_default=True
    ),
    click.option(
        "--patience",
        type=click.IntRange(min=0),
        default=None,
        help="Epochs without improvement before stopping (default 2; 3 for multi-label); 0: never.",
    ),
    click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True),
    click.option(
        "--class-weights", type=click.Choice(["none", "balanced"]), default="none", show_default=True
    ),
    click.option("--lora-r", type=click.IntRange(min=1), default=DEFAULTS.lora_r, show_default=True),
    click.option("--lora-alpha", type=click.IntRange(min=1), default=DEFAULTS.lora_alpha, show_default=True),
    click.option(
        "--lora-dropout", type=click.FloatRange(0, 1), default=DEFAULTS.lora_dropout, show_default=True
    ),
    click.option(
        "--lora-targets", default=None, help="Comma-separated module names (default: every linear layer)."
    ),
    click.option(
        "--report-to",
        type=click.Choice(REPORT_TO),
        multiple=True,
        help="Also log to an experiment tracker (the Trainer's own integration; install it first).",
    ),
    click.option("--max-steps", type=int, default=DEFAULTS.max_steps, hidden=True),
]


def data_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Apply DATA_OPTIONS and the long-text options (clf_train.long_text) to a command."""
    from clf_train import long_text

    return long_text.options(functools.reduce(lambda acc, opt: opt(acc), reversed(DATA_OPTIONS), f))


overwrite_option = click.option(
    "--overwrite",
    is_flag=True,
    default=TrainConfig.overwrite,
    help="Replace an output folder another clf tool wrote. A previous output of this command is "
    "replaced without it; a folder holding files clf did not write is always refused.",
)


def make_config(**kw: Any) -> TrainConfig:
    from clf_train import long_text

    kw["long_text"] = long_text.from_options(kw)
    targets = kw.pop("lora_targets")
    weights = kw.pop("class_weights")
    patience = kw.pop("patience")
    report_to = tuple(kw.pop("report_to") or ())
    return TrainConfig(
        **kw,
        report_to=report_to,
        lora_targets=tuple(t.strip() for t in targets.split(",") if t.strip()) if targets else None,
        class_weights=None if weights == "none" else weights,
        patience=AUTO if patience is None else (patience or None),
    )


def print_result(result: Any) -> None:
    from clf_train.report import headline

    click.echo(f"\nsaved {result.output}  ({result.task}, {len(result.labels)} labels)")
    click.echo(
        f"training time {result.train_seconds:.1f} s, trainable parameters "
        f"{result.trainable_params:,} of {result.total_params:,}"
    )
    for name, metrics in (("validation", result.metrics), ("test", result.test_metrics)):
        if metrics:
            click.echo(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in headline(metrics)))
    click.echo(f"report: {result.output / 'report.md'}")


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@data_options
@click.option(
    "--method",
    type=click.Choice(TRAINING_METHODS),
    default="auto",
    show_default=True,
    help="auto: LoRA on every linear layer (matched or beat full fine-tuning on every data set measured).",
)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=TRAINED_DIR, show_default=True)
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint of an interrupted run.")
@click.pass_context
def main(ctx: click.Context, **kw: Any) -> None:
    """Fine-tune a text classifier (default: the sample data and all-MiniLM-L6-v2).

    Use `clf-train compare` to train the same data three ways and compare.
    """
    if ctx.invoked_subcommand is not None:
        return
    quiet.command()
    with user_errors(), save_errors():
        from clf_train.training import train

        config = make_config(**kw)
        result = train(config)
        if result is not None:  # None on the other ranks of a distributed run
            print_result(result)


@main.command()
@data_options
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), default=Path("clf-compare"), show_default=True
)
@overwrite_option
def compare(**kw: Any) -> None:
    """Train the same data with no fine-tuning, full fine-tuning and LoRA; write compare.md."""
    quiet.command()
    with user_errors(), save_errors():
        from clf_train.compare import compare_methods

        output = kw.pop("output")
        table = compare_methods(make_config(**kw), output)
        click.echo(table)
        click.echo(f"\nwritten: {output / 'compare.md'}")


if __name__ == "__main__":  # `accelerate launch -m clf_train.cli ...`, `torchrun -m clf_train.cli ...`
    main()
