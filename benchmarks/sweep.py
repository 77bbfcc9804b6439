"""The training-recipe sweep behind clf-train's defaults (not a test: hours on 2 CPU cores).

Trains the default base model on several real data sets with a few candidate recipes and appends
one JSON line per run (data set, recipe, validation and test metric, time) to --out. Validation is
the default 10% split of the training rows, as a user without --validation gets; the test metric
comes from each set's own test split, which neither checkpoint selection nor thresholds saw.
For multi-label runs the validation and test logits are saved too (--logits), so threshold
strategies can be compared afterwards without retraining (benchmarks/thresholds.py).

    python benchmarks/sweep.py --data-root ../shared/data --out benchmarks/results/sweep.jsonl \
        --jobs 2 [--only 'b77-2k:*'] [--list]

Data sets: the sample data; Banking77 (2,000 / 4,000 / all 10,003 rows; test split); 20 Newsgroups
(2,000 / 4,000 rows; first 2,000 test rows); GoEmotions (2,000 / 4,000 rows; measured on dev);
"b77-multi": Banking77 messages joined one to three at a time, labelled with the union of their
intents (77 labels, long-tailed), 2,000 rows, tested on 1,000 rows built the same way from the test
split.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# name -> TrainConfig overrides. "full-2e-4" and "lora-1e-3" are the defaults the sweep started from;
# "default" is whatever clf-train does today without options.
RECIPES: dict[str, dict] = {
    "default": {},
    "full-2e-4": {"method": "full", "learning_rate": 2e-4},
    "full-1e-4": {"method": "full", "learning_rate": 1e-4},
    "full-2e-4-e10": {"method": "full", "learning_rate": 2e-4, "epochs": 10.0, "patience": 3},
    "lora-1e-3": {"method": "lora", "learning_rate": 1e-3},
    "lora-all-r16-1e-3": {
        "method": "lora",
        "learning_rate": 1e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_targets": ("query", "key", "value", "output.dense", "intermediate.dense"),
    },
}

RECIPES.update(
    {
        "lora-all-r16-1e-3-e10": {**RECIPES["lora-all-r16-1e-3"], "epochs": 10.0, "patience": 3},
        "lora-all-r16-2e-3": {**RECIPES["lora-all-r16-1e-3"], "learning_rate": 2e-3},
        "lora-all-r16-1e-3-L256": {**RECIPES["lora-all-r16-1e-3"], "max_length": 256},
        # Regression: the default LoRA recipe on raw targets (how it diverged on SICK).
        "default-raw-targets": {"standardize_targets": False},
    }
)
# Multi-label only: the loss choices, each with the two methods' default recipe.
LOSS_RECIPES: dict[str, dict] = {
    f"{base}+{loss}": {**RECIPES[base], "multi_label_loss": loss}
    for base in ("full-2e-4", "lora-1e-3", "lora-all-r16-1e-3")
    for loss in ("bce", "sqrt-weighted")
}

DATASETS = {
    # name: (folder, train file, test file, label column, rows or None, test rows or None)
    "sample": None,
    "b77-full": ("banking77", "train.csv", "test.csv", "category", None, None),
    "b77-4k": ("banking77", "train.csv", "test.csv", "category", 4000, None),
    "b77-2k": ("banking77", "train.csv", "test.csv", "category", 2000, None),
    "ng-4k": ("20newsgroups", "train.csv", "test.csv", "label", 4000, 2000),
    "ng-2k": ("20newsgroups", "train.csv", "test.csv", "label", 2000, 2000),
    "ge-4k": ("goemotions", "train.csv", "dev.csv", "labels", 4000, None),
    "ge-2k": ("goemotions", "train.csv", "dev.csv", "labels", 2000, None),
    "b77-multi": ("banking77", "train.csv", "test.csv", "category", 2000, 1000),
    # Sentence pairs: SICK's relatedness score (regression, 1-5) and its entailment label (3 classes).
    "sick-score": ("sick", "train.csv", "test.csv", "score", None, None),
    "sick-nli": ("sick", "train.csv", "test.csv", "entailment", None, None),
}
MULTI_LABEL = {"ge-4k", "ge-2k", "b77-multi"}
# Text columns where they are not "text": (text, pair).
TEXT_COLUMNS = {"sick-score": ("sentence_a", "sentence_b"), "sick-nli": ("sentence_a", "sentence_b")}


def runs(only: list[str]) -> list[tuple[str, str]]:
    out = []
    for dataset in DATASETS:
        recipes = list(RECIPES) + (list(LOSS_RECIPES) if dataset in MULTI_LABEL else [])
        for recipe in recipes:
            key = f"{dataset}:{recipe}"
            if not only or any(fnmatch.fnmatch(key, p) for p in only):
                out.append((dataset, recipe))
    # Longest first, so parallel jobs finish together.
    return sorted(out, key=lambda r: (r[0] != "b77-full", "e10" not in r[1]))


def _joined(df, label_column: str, rows: int, seed: int):
    """Banking77 messages joined 1-3 at a time; the labels are the union of their intents."""
    import pandas as pd

    rng = random.Random(seed)
    texts, labels = df["text"].tolist(), df[label_column].tolist()
    out = []
    for _ in range(rows):
        picks = rng.sample(range(len(texts)), rng.choice((1, 1, 2, 3)))
        joined = " ".join(texts[i] for i in picks)
        out.append({"text": joined, "labels": ";".join(sorted({labels[i] for i in picks}))})
    return pd.DataFrame(out)


def prepare(dataset: str, root: Path, tmp: Path) -> tuple[Path, Path, str]:
    """Writes the training rows and test rows of a data set; returns (train, test, label column)."""
    import pandas as pd

    if dataset == "sample":
        from clf_train.sample_data import SUPPORT_TEST, SUPPORT_TRAIN

        return SUPPORT_TRAIN, SUPPORT_TEST, "label"
    folder, train_file, test_file, label, rows, test_rows = DATASETS[dataset]
    train = pd.read_csv(root / folder / train_file)
    test = pd.read_csv(root / folder / test_file)
    if dataset == "b77-multi":
        train, test, label = _joined(train, label, rows, 0), _joined(test, label, test_rows, 1), "labels"
    else:
        train = train.head(rows) if rows else train
        test = test.head(test_rows) if test_rows else test
    train_path, test_path = tmp / f"{dataset}-train.csv", tmp / f"{dataset}-test.csv"
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)
    return train_path, test_path, label


def _known_labels_only(split, names):
    """Test rows keep only labels seen in training (a subset can miss a rare one)."""
    from clf_train.data import Split

    known = set(names)
    if split.labels and isinstance(split.labels[0], list):
        return Split(split.texts, split.pairs, [[x for x in v if x in known] for v in split.labels])
    keep = [i for i, v in enumerate(split.labels) if v in known]
    pairs = None if split.pairs is None else [split.pairs[i] for i in keep]
    return Split([split.texts[i] for i in keep], pairs, [split.labels[i] for i in keep])


def run_one(
    dataset: str, recipe: str, root: Path, logits_dir: Path | None, model: str | None, keep: Path | None
) -> dict:
    """One training run; with `keep` its output folder stays there (for clf-export), else it is deleted."""
    from clf_train.training import train

    text, pair = TEXT_COLUMNS.get(dataset, ("text", None))
    overrides = {"text_column": text, "text_pair_column": pair, **{**RECIPES, **LOSS_RECIPES}[recipe]}
    with tempfile.TemporaryDirectory() as tmp:
        train_path, test_path, label = prepare(dataset, root, Path(tmp))
        output = keep / f"{dataset}__{recipe}" if keep else Path(tmp) / "out"
        config = _config(train_path, label, output, model, overrides)
        data = _task_data(train_path, test_path, label, config)
        start = time.perf_counter()
        result = train(config, data)
        seconds = time.perf_counter() - start
    row = _row(dataset, recipe, data, result, seconds)
    if data.task == "multi_label" and logits_dir is not None:
        _save_logits(logits_dir / f"{dataset}__{recipe}.npz", data, result)
    return row


def _config(train_path: Path, label: str, output: Path, model: str | None, overrides: dict):
    """The recipe's TrainConfig (SWEEP_MAX_STEPS, for a smoke run, caps the steps)."""
    from clf_train.config import TrainConfig

    base = TrainConfig(data=train_path, label_column=label, output=output, progress=False)
    if model:
        base = TrainConfig(**{**base.__dict__, "model": model})
    smoke = {"max_steps": int(os.environ["SWEEP_MAX_STEPS"])} if "SWEEP_MAX_STEPS" in os.environ else {}
    return TrainConfig(**{**base.__dict__, **overrides, **smoke})


def _task_data(train_path: Path, test_path: Path, label: str, config):
    """Training rows split as clf-train splits them, and the set's own test split as the test rows."""
    from clf_train.data import TaskData, load_split, load_task_data

    text, pair = config.text_column, config.text_pair_column
    data = load_task_data(
        train_path, None, text, label, pair, "auto", ";", config.validation_split, config.seed
    )
    test, _ = load_split(test_path, text, label, pair, data.task, ";")
    if data.task == "regression":
        return TaskData(data.task, data.label_names, data.train, data.validation, test)
    return TaskData(
        data.task,
        data.label_names,
        data.train,
        data.validation,
        _known_labels_only(test, data.label_names),
    )


def _row(dataset: str, recipe: str, data, result, seconds: float) -> dict:
    """The JSON line of one run: validation and test metric, times."""
    from clf_train import metrics as M

    main = M.MAIN_METRIC[data.task]
    validation = result.metrics.get("tuned", result.metrics)
    row = {
        "dataset": dataset,
        "recipe": recipe,
        "task": data.task,
        "train_rows": len(data.train),
        "labels": len(data.label_names),
        "metric": main,
        "validation": validation[main],
        "test": result.test_metrics[main],
        "train_seconds": round(result.train_seconds, 1),
        "total_seconds": round(seconds, 1),
        "epochs_logged": len(result.loss_history or []),
    }
    if data.task == "multi_label":
        at_half = M.compute(result.test_logits, data.test.labels, data.task, data.label_names)
        row["test_at_0.5"] = at_half[main]
    return row


def _save_logits(path: Path, data, result) -> None:
    """A multi-label run's validation and test logits and label ids, for benchmarks/thresholds.py."""
    import numpy as np

    from clf_train import metrics as M

    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        val_logits=result.validation_logits,
        val_y=M.label_ids(data.validation.labels, data.task, data.label_names),
        test_logits=result.test_logits,
        test_y=M.label_ids(data.test.labels, data.task, data.label_names),
    )


def table(paths: list[Path]) -> str:
    """Markdown: one row per data set, one column per recipe (test metric), later files win."""
    cells: dict[str, dict[str, float]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "error" not in row:
                cells.setdefault(row["dataset"], {})[row["recipe"]] = row["test"]
    recipes = [r for r in {**RECIPES, **LOSS_RECIPES} if any(r in v for v in cells.values())]
    out = ["| data set | " + " | ".join(recipes) + " |", "|---|" + "---|" * len(recipes)]
    for dataset in (d for d in DATASETS if d in cells):
        best = max(cells[dataset].values())
        marks = [
            "-"
            if r not in cells[dataset]
            else f"{'**' if cells[dataset][r] == best else ''}"
            f"{cells[dataset][r]:.3f}{'**' if cells[dataset][r] == best else ''}"
            for r in recipes
        ]
        out.append(f"| {dataset} | " + " | ".join(marks) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep.jsonl"))
    ap.add_argument("--logits", type=Path, default=None, help="folder for multi-label logits (.npz)")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (one process each)")
    ap.add_argument("--only", action="append", default=[], help="glob on DATASET:RECIPE; repeatable")
    ap.add_argument("--model", default=None, help="base model folder (default: clf-train's default)")
    ap.add_argument("--keep", type=Path, default=None, help="keep each run's output folder here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", nargs="+", type=Path, metavar="JSONL", help="print the results as markdown")
    ap.add_argument("--one", nargs=2, metavar=("DATASET", "RECIPE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        row = run_one(*args.one, args.data_root, args.logits, args.model, args.keep)
        print("RESULT " + json.dumps(row), flush=True)
        return
    if args.table:
        print(table(args.table))
        return
    todo = runs(args.only)
    if args.list:
        print("\n".join(f"{d}:{r}" for d, r in todo))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def launch(run: tuple[str, str]) -> None:
        cmd = [sys.executable, __file__, "--one", *run, "--data-root", str(args.data_root)]
        if args.logits:
            cmd += ["--logits", str(args.logits)]
        if args.model:
            cmd += ["--model", args.model]
        if args.keep:
            cmd += ["--keep", str(args.keep)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not lines:
            row = {"dataset": run[0], "recipe": run[1], "error": (proc.stderr or "")[-600:]}
        else:
            row = json.loads(lines[-1][len("RESULT ") :])
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row)[:300], flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(launch, todo))


if __name__ == "__main__":
    main()
