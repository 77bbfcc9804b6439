"""`clf-train compare`: the same data trained three ways, one table.

- none: the pretrained encoder with a fresh, untrained head, evaluated as is (the floor);
- full: every weight fine-tuned;
- lora: LoRA adapters + trained head, merged after training.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from clf_runtime.outdir import check_output, output_folder
from clf_train import metrics as M
from clf_train import report
from clf_train.config import TrainConfig
from clf_train.model import count_parameters, load_model
from clf_train.reference import logits as reference_logits
from clf_train.training import load_data, run_inputs, train

OUTPUT_TOOL = "clf-train compare"
COLUMNS = ["method", "accuracy", "precision", "recall", "f1", "train s", "trainable params"]


def _row(method: str, metrics: dict, seconds: float, trainable: int) -> list:
    if "accuracy" in metrics:
        values = [
            metrics["accuracy"],
            metrics["precision_macro"],
            metrics["recall_macro"],
            metrics["f1_macro"],
        ]
    else:  # multi-label / regression: show the main metric in the accuracy column, the rest blank
        main = metrics.get("tuned", metrics)
        key = "f1_micro" if "f1_micro" in main else "pearson"
        values = [main[key], "-", "-", main.get("f1_macro", "-")]
    return [method, *values, f"{seconds:.1f}", f"{trainable:,}"]


def compare_methods(config: TrainConfig, output: Path) -> str:
    inputs = run_inputs(config)
    check_output(output, OUTPUT_TOOL, config.overwrite, inputs)  # before training, not after
    data = load_data(config)
    rows = []
    # No fine-tuning: evaluate the base encoder with its fresh head.
    model, tokenizer = load_model(config.model, data.task, data.label_names)
    start = time.perf_counter()
    split = data.validation
    logits = reference_logits(model, tokenizer, split.texts, split.pairs, max_length=config.max_length)
    metrics = M.compute(logits, data.validation.labels, data.task, data.label_names, full=False)
    rows.append(_row("none (frozen, fresh head)", metrics, time.perf_counter() - start, 0))
    del model

    with output_folder(output, OUTPUT_TOOL, config.overwrite, inputs) as tmp:
        for method in ("full", "lora"):
            # learning_rate None picks each method's own default (2e-4 full, 1e-3 LoRA).
            result = train(replace(config, method=method, output=tmp / method), data=data)
            rows.append(_row(method, result.metrics, result.train_seconds, result.trainable_params))
        _, total = count_parameters(load_model(config.model, data.task, data.label_names)[0])
        table = report.table(rows, COLUMNS)
        text = (
            f"# clf-train compare\n\nbase model `{config.model}`, {len(data.train)} training rows, "
            f"{len(data.validation)} validation rows (metrics on validation), "
            f"{total:,} parameters in all.\n\n"
            f"{table}\n"
        )
        (tmp / "compare.md").write_text(text, encoding="utf-8")
    return table
