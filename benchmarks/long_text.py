"""Long-text strategies and calibration of one artifact, measured side by side on labelled data.

    python benchmarks/long_text.py --artifact ng-model --data ng_test.csv \
        --calibrate-on ng_val.csv --out benchmarks/results/long_text

For each strategy (truncate, head-tail, windows mean, windows max) the same artifact classifies the
same texts: accuracy, seconds, model inputs run (windows), texts longer than max_length. With
--calibrate-on, a temperature is fitted on that file's logits (as clf-train does on validation) and
the ECE on --data is reported before and after. Needs the runtime and scipy (clf-train's deps).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

csv.field_size_limit(sys.maxsize)

CONFIGS = {
    "truncate": {"strategy": "truncate"},
    "head-tail": {"strategy": "head-tail"},
    "windows (mean)": {"strategy": "windows", "aggregate": "mean"},
    "windows (max)": {"strategy": "windows", "aggregate": "max"},
}


def read(path: Path, text_column: str, label_column: str, limit: int) -> tuple[list[str], list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    # clf-run reads one text per line: newlines inside a post become spaces, as they would there.
    return [" ".join(r[text_column].split()) for r in rows], [r[label_column].strip() for r in rows]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--calibrate-on", type=Path, default=None, help="labelled file to fit a temperature on")
    ap.add_argument("--strategies", default=",".join(CONFIGS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args()


def main() -> None:
    from clf_runtime import TextClassifier
    from clf_runtime.long_text import LongText

    args = parse_args()
    clf = TextClassifier.load(args.artifact, provider="cpu", threads=args.threads)
    texts, labels = read(args.data, args.text_column, args.label_column, args.limit)
    index = {name: i for i, name in enumerate(clf.labels)}
    # Labels the model does not know (another data set's texts): agreement and time only.
    y = np.array([index[v] for v in labels]) if all(v in index for v in labels) else None
    results: dict = {
        "artifact": str(args.artifact),
        "precision": clf.precision,
        "data": str(args.data),
        "texts": len(texts),
        "max_length": clf.manifest.max_length,
        "texts_longer_than_max_length": clf._encoders.get(LongText()).encode(texts).too_long,
        "strategies": {},
    }
    logits_by = measure_strategies(clf, texts, y, args.strategies.split(","), results["strategies"])
    if args.calibrate_on is not None and y is not None:
        cal_texts, cal_labels = read(args.calibrate_on, args.text_column, args.label_column, args.limit)
        cal_y = np.array([index[v] for v in cal_labels])
        where = f"{args.calibrate_on} ({len(cal_texts)} texts)"
        results["calibration"] = calibrate(clf, logits_by, y, cal_texts, cal_y, where)

    text = json.dumps(results, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(text + "\n")
    print(text)


def measure_strategies(  # type: ignore[no-untyped-def]
    clf, texts: list[str], y: np.ndarray | None, names: list[str], out: dict
) -> dict[str, np.ndarray]:
    """Each strategy's logits on `texts`; its accuracy, time and model inputs go into `out`."""
    from clf_runtime.long_text import LongText

    logits_by = {}
    for name in names:
        config = LongText(**CONFIGS[name])
        encoder = clf._encoders.get(config)
        inputs = len(encoder.encode(texts).encodings)
        start = time.perf_counter()
        logits = clf.logits(texts, long_text=config)
        seconds = time.perf_counter() - start
        logits_by[name] = logits
        out[name] = {
            "accuracy": float((logits.argmax(axis=1) == y).mean()) if y is not None else None,
            "seconds": round(seconds, 2),
            "model_inputs": inputs,
            "settings": encoder.config.to_json(),
        }
        acc = out[name]["accuracy"]
        print(f"{name:16s} accuracy {acc}  {seconds:7.1f} s  {inputs} inputs")
    base = logits_by.get("truncate")
    if base is not None:
        for name, logits in logits_by.items():
            out[name]["agreement_with_truncate"] = float(
                (logits.argmax(axis=1) == base.argmax(axis=1)).mean()
            )
    return logits_by


def calibrate(  # type: ignore[no-untyped-def]
    clf, logits_by: dict[str, np.ndarray], y: np.ndarray, cal_texts: list[str], cal_y: np.ndarray, where: str
) -> dict:
    """Per strategy, a temperature fitted on the calibration texts and the ECE on the data before/after."""
    from clf_runtime.calibration import Calibration, task_ece
    from clf_runtime.long_text import LongText
    from clf_train.calibrate import coverage, fit_temperature

    out = {}
    for name, logits in logits_by.items():
        config = LongText(**CONFIGS[name])
        t = fit_temperature(clf.logits(cal_texts, long_text=config), cal_y)
        after = Calibration("temperature", temperature=t).apply(logits)
        out[name] = {
            "temperature": t,
            "fitted_on": where,
            "ece_before": task_ece(logits, y, "single_label"),
            "ece_after": task_ece(after, y, "single_label"),
            "coverage": coverage(after, y),
        }
        c = out[name]
        print(f"{name:16s} T {t:.3f}  ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}")
    return out


if __name__ == "__main__":
    main()
