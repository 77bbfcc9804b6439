"""Compares multi-label threshold strategies on the logits saved by benchmarks/sweep.py --logits.

Each strategy chooses thresholds on a run's validation logits; the table shows micro-F1 on the
run's test logits (rows neither training, checkpoint selection nor thresholds saw).

    python benchmarks/thresholds.py LOGITS_DIR [--markdown]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from clf_runtime.prediction import sigmoid
from clf_train import thresholds as T


def old_per_label_f1(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The strategy clf-train used before: each label's own F1 on a 0.05 grid; 0.5 without positives."""
    grid = np.linspace(0.05, 0.95, 19)
    best = np.full(y.shape[1], 0.5)
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            continue
        scores = []
        for t in grid:
            p = probs[:, j] >= t
            tp = float((p & (y[:, j] == 1)).sum())
            denom = float(p.sum() + y[:, j].sum())
            scores.append(2 * tp / denom if denom else 0.0)
        best[j] = grid[int(np.argmax(scores))]
    return best


STRATEGIES = {
    "0.5": lambda p, y: np.full(y.shape[1], 0.5),
    "per-label-F1 (old)": old_per_label_f1,
    "global": lambda p, y: np.full(y.shape[1], T.global_threshold(p, y)),
    "micro k=0": lambda p, y: T.tune(p, y, shrinkage=0.0),
    "micro k=5": lambda p, y: T.tune(p, y, shrinkage=5.0),
    "micro k=20": lambda p, y: T.tune(p, y, shrinkage=20.0),
    "micro k=50": lambda p, y: T.tune(p, y, shrinkage=50.0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("logits", type=Path)
    args = ap.parse_args()
    names = list(STRATEGIES)
    print("| run | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    totals = np.zeros(len(names))
    files = sorted(args.logits.glob("*.npz"))
    for f in files:
        d = np.load(f)
        vp, tp = sigmoid(d["val_logits"]), sigmoid(d["test_logits"])
        row = [T.micro_f1(tp, d["test_y"], STRATEGIES[n](vp, d["val_y"])) for n in names]
        totals += row
        print(f"| {f.stem.replace('__', ' ')} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    if files:
        print("| mean | " + " | ".join(f"{v / len(files):.3f}" for v in totals) + " |")


if __name__ == "__main__":
    main()
