"""int8 targets side by side: accuracy against fp32, speed, and what another CPU class computes.

    python benchmarks/int8_targets.py ARTIFACT --data test.csv --label-column category \
        [--calibration train.csv] [--emulate Haswell]

ARTIFACT is a clf-export folder with its fp32 graph (model.onnx). Each candidate re-quantizes that
graph with clf-export's own code (clf_export.quantize.quantize_int8, activation scales fixed on the
same calibration batches as the export makes) into a copy of the folder:

- portable: u8 activations × s8 weights in 7 bits (reduce_range), per channel: the default;
- avx512_vnni: u8 × s8 with 8-bit weights (exact only with VNNI or on ARM64);
- avx2: u8 × u8 (QUInt8 weights), per channel;
- portable-per-tensor: the portable encoding with one weight scale per tensor.

For each: accuracy (micro-F1 for multi-label), agreement of labels with fp32 and mean |Δlogit|,
then batch-1 p50 latency and batch-32 throughput in interleaved rounds as ratios to fp32 (same run,
same machine). With --emulate CPU, each int8 candidate's logits on the first --emulate-texts texts
are also computed on a CPU emulated by qemu's user mode (e.g. Haswell: AVX2, no AVX-512/VNNI) and
compared with this machine's: max |Δlogit| and label changes. This CPU is printed first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from batch_dependence import print_speed, read, score

from clf_export.manifest import write_manifest
from clf_runtime import TextClassifier
from clf_runtime.cpu import this_cpu
from clf_runtime.trust import load_manifest

CANDIDATES = {  # name: (target, per_channel)
    "portable": ("portable", True),
    "avx512_vnni": ("avx512_vnni", True),
    "avx2": ("avx2", True),
    "portable-per-tensor": ("portable", False),
}
EMULATED = """
import json, sys
from clf_runtime import TextClassifier
texts = json.load(open(sys.argv[2]))
print(json.dumps(TextClassifier.load(sys.argv[1], precision="int8", verify=False).logits(texts).tolist()))
"""


def build(artifact: Path, work: Path, name: str, feeds: list) -> Path:
    """A copy of `artifact` whose int8 graph is the candidate `name`, its manifest updated."""
    from dataclasses import replace

    from clf_export.quantize import quantize_int8

    target, per_channel = CANDIDATES[name]
    folder = work / name
    folder.mkdir()
    for f in ("clf.json", "tokenizer.json", "model.onnx"):
        shutil.copyfile(artifact / f, folder / f)
    record = quantize_int8(
        folder / "model.onnx", folder / "model.int8.onnx", target, per_channel, "static", (), feeds
    )
    manifest = load_manifest(artifact)
    variants = tuple(v for v in manifest.variants if v.precision in ("fp32", "int8"))
    files = {v.file: manifest.files[v.file] for v in variants if v.file in manifest.files}
    manifest = replace(
        manifest,
        variants=variants,
        provider_variants={"cpu": "int8"},
        files=files,
        quantization={"int8": record},
    )
    write_manifest(folder, manifest)  # recomputes the files' hashes
    return folder


def emulated_logits(folder: Path, texts: list[str], cpu: str) -> np.ndarray:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(texts, f)
    out = subprocess.run(
        ["qemu-x86_64", "-cpu", cpu, sys.executable, "-c", EMULATED, str(folder), f.name],
        capture_output=True,
        text=True,
        check=True,
    )
    Path(f.name).unlink()
    return np.asarray(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--label-separator", default=";")
    parser.add_argument("--calibration", type=Path, help="texts to fix scales on (default: --data)")
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--emulate", default=None, help="a qemu CPU model, e.g. Haswell")
    parser.add_argument("--emulate-texts", type=int, default=200)
    args = parser.parse_args()
    from clf_export.int8_search import int8_feeds

    print(f"cpu: {this_cpu().describe()}")
    texts, labels = read(args.data, args.text_column, args.label_column)
    calib = read(args.calibration, args.text_column, args.label_column)[0] if args.calibration else texts
    fp32 = TextClassifier.load(args.artifact, precision="fp32")
    feeds = int8_feeds(fp32, calib[: args.calibration_samples])
    ref = fp32.logits(texts)
    models = {"fp32": fp32}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.candidates.split(","):
            models[name] = TextClassifier.load(build(args.artifact, Path(tmp), name, feeds), precision="int8")
        report(models, texts, labels, ref, args)
        if args.emulate:
            emulate(models, texts[: args.emulate_texts], args.emulate)


def report(
    models: dict, texts: list[str], labels: list[str], ref: np.ndarray, args: argparse.Namespace
) -> None:
    print(f"{'variant':<22} {'accuracy':>9} {'agree':>7} {'mean|Δ|':>8}")
    for name, clf in models.items():
        logits = clf.logits(texts)
        agree = float(np.mean(logits.argmax(1) == ref.argmax(1))) if ref.shape[1] > 1 else float("nan")
        accuracy = score(clf, texts, labels, args.label_separator)
        print(f"{name:<22} {accuracy * 100:>8.2f}% {agree * 100:>6.1f}% {np.abs(logits - ref).mean():>8.4f}")
    print_speed(models, texts[:1000], args.rounds, args.runs, "fp32", "variant")


def emulate(models: dict, texts: list[str], cpu: str) -> None:
    print(f"\nemulated {cpu} (qemu) against this CPU, {len(texts)} texts")
    print(f"{'variant':<22} {'max|Δ|':>9} {'label changes':>14}")
    for name, clf in models.items():
        if name == "fp32":
            continue
        here = clf.logits(texts)
        there = emulated_logits(clf.folder, texts, cpu)
        changes = int((here.argmax(1) != there.argmax(1)).sum()) if here.shape[1] > 1 else 0
        print(f"{name:<22} {np.abs(here - there).max():>9.2e} {changes:>14}")


if __name__ == "__main__":
    main()
