"""Does a text's answer depend on its batch-mates? And what does batch-independence cost?

    python benchmarks/batch_dependence.py ARTIFACT [ARTIFACT ...] --data test.csv --label-column category

For every artifact (e.g. one exported with the default int8, whose activation scales are fixed at
export, one with `--quantize int8-dynamic` and one with `int8-per-row`) and each of its variants, on
the same texts in one run: label changes and the largest score difference between batch sizes 1, 8
and 64, accuracy (micro-F1 for multi-label models, labels split at --label-separator), batch-1 p50
latency and throughput (batch 32). Latency and throughput are measured in interleaved rounds and reported as
ratios to the first artifact's CPU variant, so machine load hits every candidate alike.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np

from clf_runtime import TextClassifier
from clf_runtime.timing import median_ms


def read(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r[text_column] for r in rows], [r[label_column] for r in rows]


def dependence(clf: TextClassifier, texts: list[str]) -> tuple[int, float]:
    """Label changes and max |Δscore| of batch sizes 8 and 64 against batch size 1."""
    one = clf.logits(texts, batch_size=1)
    changes, worst = 0, 0.0
    for batch_size in (8, 64):
        other = clf.logits(texts, batch_size=batch_size)
        changes += int((other.argmax(1) != one.argmax(1)).sum())
        worst = max(worst, float(np.abs(other - one).max()))
    return changes, worst


def score(clf: TextClassifier, texts: list[str], labels: list[str], separator: str) -> float:
    """Accuracy, or micro-F1 over labels for a multi-label model (its tuned thresholds)."""
    predictions = clf.predict(texts)
    if clf.task != "multi_label":
        return float(np.mean([p.label == t for p, t in zip(predictions, labels, strict=True)]))
    hits = guessed = true = 0
    for p, t in zip(predictions, labels, strict=True):
        gold = {x for x in t.split(separator) if x}
        hits += len(set(p.labels) & gold)
        guessed += len(p.labels)
        true += len(gold)
    return 2 * hits / (guessed + true) if guessed + true else 0.0


def speed(clf: TextClassifier, texts: list[str], runs: int) -> tuple[float, float]:
    """Batch-1 p50 latency (ms) and batch-32 throughput (texts/s)."""
    latency = median_ms(lambda i: clf.logits([texts[i % len(texts)]]), runs, warmup=min(5, len(texts)))
    start = time.perf_counter()
    clf.logits(texts, batch_size=32)
    return latency, len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifacts", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--label-separator", default=";", help="multi-label: between a row's labels")
    parser.add_argument("--texts", type=int, default=1000, help="texts for the batch-dependence check")
    parser.add_argument("--runs", type=int, default=200, help="batch-1 calls per latency round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts, labels = read(args.data, args.text_column, args.label_column)

    models: dict[str, TextClassifier] = {}
    base = ""
    for folder in args.artifacts:
        probe = TextClassifier.load(folder, provider="cpu")
        base = base or f"{folder.name}/{probe.precision}"  # the first artifact's CPU variant
        for v in probe.manifest.variants:
            if v.precision != "fp16":
                clf = TextClassifier.load(folder, provider="cpu", precision=v.precision)
                models[f"{folder.name}/{v.precision}"] = clf
    print(f"{'model':<28} {'size MB':>8} {'batch-indep.':>12} {'changes':>8} {'max|Δ|':>9} {'accuracy':>9}")
    for name, clf in models.items():
        changes, worst = dependence(clf, texts[: args.texts])
        accuracy = score(clf, texts, labels, args.label_separator)
        size = (clf.folder / clf.manifest.variant(clf.precision).file).stat().st_size / 1e6
        print(
            f"{name:<28} {size:>8.1f} {clf.batch_independent!s:>12} {changes:>8} {worst:>9.2e} "
            f"{accuracy * 100:>8.2f}%"
        )

    print_speed(models, texts[: args.texts], args.rounds, args.runs, base, "model")


def print_speed(
    models: dict[str, TextClassifier], sample: list[str], rounds: int, runs: int, base: str, column: str
) -> None:
    """Batch-1 p50 and throughput of every model over interleaved rounds (machine load hits each
    alike), printed beside their ratios to the model named `base`."""
    p50: dict[str, list[float]] = {n: [] for n in models}
    rate: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(rounds):
        for name, clf in models.items():
            latency, throughput = speed(clf, sample, runs)
            p50[name].append(latency)
            rate[name].append(throughput)
    print(f"\n{column:<28} {'p50 ms':>8} {'vs base':>8} {'texts/s':>8} {'vs base':>8}   (base: {base})")
    for name in models:
        lat = statistics.median(a / b for a, b in zip(p50[name], p50[base], strict=True))
        thr = statistics.median(a / b for a, b in zip(rate[name], rate[base], strict=True))
        print(
            f"{name:<28} {statistics.median(p50[name]):>8.2f} {lat:>7.3f}x "
            f"{statistics.median(rate[name]):>8.0f} {thr:>7.3f}x"
        )


if __name__ == "__main__":
    main()
