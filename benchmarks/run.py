"""Side-by-side benchmark of clf against the tools users would pick instead, measured in one run.

    python benchmarks/run.py --model-dir clf-trained --artifact clf-model \
        --data ../shared/data/banking77/test.csv --label-column category

Compares, on the same fine-tuned model: the transformers pipeline (fp32), PyTorch eager (fp32),
Optimum's ORTModelForSequenceClassification + pipeline (int8), clf_runtime fp32 and int8, and a bare
ONNX Runtime session on pre-tokenized input, on the artifact's int8 graph and on the fastest fused
int8 graph ONNX Runtime makes of the model (the floor). Runs of each configuration are interleaved
in rounds so machine drift hits all of them alike. Writes benchmarks/results/results.json,
results.md and latency.png, and prints each comparison as a ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    import onnxruntime
    import torch
    import transformers

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def read_texts(
    path: Path | None, text_column: str, label_column: str, limit: int
) -> tuple[list[str], list[str]]:
    if path is None:
        from clf_runtime.bench import SHORT_TEXTS

        return list(SHORT_TEXTS), []
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    return [r[text_column] for r in rows], [r.get(label_column, "") for r in rows]


# --- the contenders -------------------------------------------------------------------------------


def make_pipeline(model_dir: Path):
    from transformers import pipeline

    return pipeline("text-classification", model=str(model_dir), device=-1)


def make_eager(model_dir: Path) -> Callable[[str], object]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    def run(text: str):
        with torch.inference_mode():
            return model(**tok([text], truncation=True, max_length=512, return_tensors="pt")).logits

    return run


def make_optimum(model_dir: Path, int8_file: Path, work: Path):
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    folder = work / "optimum"
    folder.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(model_dir):
        if name.endswith((".json", ".txt")):
            shutil.copy(model_dir / name, folder / name)
    shutil.copy(int8_file, folder / "model_quantized.onnx")
    model = ORTModelForSequenceClassification.from_pretrained(folder, file_name="model_quantized.onnx")
    return pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(model_dir))


def make_bare(onnx_file: Path, clf) -> Callable[[dict], object]:
    """A plain ONNX Runtime session with default options, fed pre-tokenized arrays."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    output = [session.get_outputs()[0].name]
    return lambda feed: session.run(output, feed)


def optimum_own_int8(raw: Path, work: Path) -> Path:
    """What a user gets from Optimum alone: ORTQuantizer on the plain export (it fails on fused graphs)."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    from clf_export.targets import detect_target

    config = getattr(AutoQuantizationConfig, detect_target())(is_static=False, per_channel=True)
    ORTQuantizer.from_pretrained(raw).quantize(save_dir=work / "optimum-own", quantization_config=config)
    return next((work / "optimum-own").glob("*quantized.onnx"))


def build_floor(model_dir: Path, work: Path, levels: tuple[str, ...]) -> dict[str, Path]:
    """int8 graphs of the model at each fusion level (the fastest is the floor)."""
    from clf_export import quantize
    from clf_export.onnx_export import export_onnx
    from clf_export.optimize import optimize
    from clf_export.source import read_source

    src = read_source(model_dir)
    export_onnx(src, work / "raw", None)
    out = {}
    for level in levels:
        fused = optimize(work / "raw", work / f"opt-{level}", level)
        dest = work / f"floor-{level}.int8.onnx"
        quantize.quantize_int8(fused, dest, "auto", True)
        out[level] = dest
    return out


# --- measurements ---------------------------------------------------------------------------------


def cycling(fn: Callable[[object], object], items: list) -> Callable[[], object]:
    """A call of fn on the next item, round and round: every contender sees the same inputs."""
    state = {"i": -1}

    def call() -> object:
        state["i"] = (state["i"] + 1) % len(items)
        return fn(items[state["i"]])

    return call


def interleaved(calls: dict[str, Callable[[], object]], rounds: int, per_round: int, warmup: int) -> dict:
    from clf_runtime.timing import summarize, time_calls

    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            times[name] += time_calls(lambda _, fn=fn: fn(), per_round)
    out = {}
    for name, t in times.items():
        s = summarize(t)
        out[name] = {"p50_ms": s.p50_ms, "p95_ms": s.p95_ms, "p99_ms": s.p99_ms, "n": s.n}
    return out


def _hwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def run_process(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one child process.

    Peak RSS is the child's VmHWM, polled until it exits: getrusage's ru_maxrss would also count the
    copy of this (large) benchmark process that exists between fork and exec.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = 0.0
        while proc.poll() is None:
            hwm = _hwm_mib(proc.pid)
            peak = max(peak, hwm or 0.0)
            time.sleep(0.002)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode()[-2000:]}")
        return wall, peak, out.read().decode()


PIPELINE_SCRIPT = """
import sys
from transformers import pipeline
p = pipeline("text-classification", model=sys.argv[1], device=-1)
texts = open(sys.argv[2], encoding="utf-8").read().splitlines()
out = p(texts, batch_size=32, truncation=True)
print(len(out))
"""


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def venv_sizes(work: Path) -> dict:
    """Installed size of a venv with only the clf-runtime wheel vs one with torch + transformers."""
    root = HERE.parent
    out = {}
    wheel_dir = work / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(wheel_dir),
            str(root / "runtime"),
        ],
        check=True,
    )
    specs = {
        "clf-runtime": [str(next(wheel_dir.glob("*.whl")))],
        # The pins come from constraints.txt, the one place they are written.
        "torch+transformers": ["-c", str(root / "constraints.txt"), "torch", "transformers"],
    }
    for name, pkgs in specs.items():
        venv = work / f"venv-{name}"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next((venv / "lib").glob("python*/site-packages"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                str(site),
                "-c",
                str(root / "constraints.txt"),
                *pkgs,
            ],
            check=True,
        )
        out[name] = dir_size(site)
    return out


def accuracy(clf, texts: list[str], labels: list[str]) -> float:
    preds = clf.predict(texts, batch_size=64)
    return float(np.mean([p.label == y for p, y in zip(preds, labels, strict=True)]))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=Path("clf-trained"))
    ap.add_argument("--artifact", type=Path, default=Path("clf-model"))
    ap.add_argument("--data", type=Path, default=None, help="labelled CSV for accuracy and real texts")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=40)
    ap.add_argument("--lengths", default="16,64,128,256")
    ap.add_argument("--throughput-texts", type=int, default=10000)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--floor-levels", default="O1,O2")
    ap.add_argument("--skip-venv-sizes", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--render", type=Path, default=None, help="only re-render an existing results.json")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.render is not None:
        write_report(json.loads(args.render.read_text()), args.out)
        return

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore")
    from clf_runtime import TextClassifier

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clf-bench-"))
    report: dict = {"environment": environment(), "command": " ".join(sys.argv)}
    print(json.dumps(report["environment"]))

    int8 = TextClassifier.load(args.artifact, provider="cpu", precision="int8")
    fp32 = TextClassifier.load(args.artifact, provider="cpu", precision="fp32")
    texts, labels = read_texts(args.data, args.text_column, args.label_column, 100000)

    report["latency_batch1"] = measure_latency(args, int8, fp32, texts, work)
    script = work / "pipeline_file.py"
    script.write_text(PIPELINE_SCRIPT)
    report["throughput"] = measure_throughput(args, texts, work, script)
    print(json.dumps(report["throughput"]))
    report["cold_start_s"], report["cold_start_peak_rss_mib"] = measure_cold_start(args, texts, work, script)
    print(json.dumps(report["cold_start_s"]))

    report["sizes_bytes"] = {
        "model.onnx (fp32)": (args.artifact / fp32.manifest.variant("fp32").file).stat().st_size,
        "model.int8.onnx": (args.artifact / int8.manifest.variant("int8").file).stat().st_size,
        "model.safetensors (PyTorch)": sum(f.stat().st_size for f in args.model_dir.glob("*.safetensors")),
    }
    if not args.skip_venv_sizes:
        report["venv_site_packages_bytes"] = venv_sizes(work)
    if labels and all(labels):
        report["accuracy"] = {
            "fp32": accuracy(fp32, texts, labels),
            "int8": accuracy(int8, texts, labels),
            "n": len(texts),
            "data": str(args.data),
        }
        print(json.dumps(report["accuracy"]))

    write_report(report, args.out)
    shutil.rmtree(work, ignore_errors=True)


def write_report(report: dict, out: Path) -> None:
    """Add the ratios, write results.json, results.md and latency.png to `out`, print the markdown."""
    report["ratios"] = ratios(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2))
    (out / "results.md").write_text(markdown(report))
    chart(report, out / "latency.png")
    print(markdown(report))


def contenders(args: argparse.Namespace, int8, fp32, work: Path) -> tuple[dict, dict]:
    """The contenders called on a text, and the bare sessions called on pre-tokenized arrays."""
    floors = build_floor(args.model_dir, work, tuple(args.floor_levels.split(",")))
    pipe = make_pipeline(args.model_dir)
    eager = make_eager(args.model_dir)
    optimum = make_optimum(args.model_dir, args.artifact / int8.manifest.variant("int8").file, work)
    optimum_own = make_optimum(args.model_dir, optimum_own_int8(work / "raw", work), work / "own")
    bare_artifact = make_bare(args.artifact / int8.manifest.variant("int8").file, int8)
    bare_floor = {level: make_bare(path, int8) for level, path in floors.items()}
    on_text = {
        "transformers pipeline fp32": lambda t: pipe(t, truncation=True),
        "PyTorch eager fp32": eager,
        "Optimum ORTModel int8 pipeline": lambda t: optimum(t, truncation=True),
        "Optimum ORTModel, own ORTQuantizer int8": lambda t: optimum_own(t, truncation=True),
        "clf_runtime fp32": lambda t: fp32.predict([t]),
        "clf_runtime int8": lambda t: int8.predict([t]),
    }
    on_feed = {"bare session int8 (artifact graph)": bare_artifact}
    on_feed.update({f"bare session int8 ({level} fused)": fn for level, fn in bare_floor.items()})
    return on_text, on_feed


def measure_latency(args: argparse.Namespace, int8, fp32, texts: list[str], work: Path) -> dict:
    """Latency at batch 1: short real texts, then fixed token lengths."""
    from clf_runtime.bench import text_of_tokens

    on_text, on_feed = contenders(args, int8, fp32, work)
    inputs = {"short texts": texts[:200]}
    for n in (int(x) for x in args.lengths.split(",")):
        if n <= int8.manifest.max_length:
            inputs[f"{n} tokens"] = [text_of_tokens(int8, n)]
    latency = {}
    for input_name, items in inputs.items():
        feeds = [int8.model_inputs([t]) for t in items]
        calls = {name: cycling(fn, items) for name, fn in on_text.items()}
        calls.update({name: cycling(fn, feeds) for name, fn in on_feed.items()})
        latency[input_name] = interleaved(calls, args.rounds, args.per_round, warmup=20)
        print(input_name, json.dumps({k: round(v["p50_ms"], 3) for k, v in latency[input_name].items()}))
    return latency


def measure_throughput(args: argparse.Namespace, texts: list[str], work: Path, script: Path) -> dict:
    """Throughput on a file: clf-run end to end vs the pipeline (batched) in a process of its own."""
    corpus = work / "corpus.txt"
    corpus.write_text(
        "\n".join(texts[i % len(texts)].replace("\n", " ") for i in range(args.throughput_texts))
    )
    clf_run = str(BIN / "clf-run")
    t_clf, rss_clf, _ = run_process(
        [clf_run, str(corpus), "--model", str(args.artifact), "--output", str(work / "out.txt")]
    )
    t_pipe, rss_pipe, _ = run_process([sys.executable, str(script), str(args.model_dir), str(corpus)])
    return {
        "texts": args.throughput_texts,
        "clf-run texts/s (whole process)": args.throughput_texts / t_clf,
        "pipeline batch 32 texts/s (whole process)": args.throughput_texts / t_pipe,
        "clf-run peak RSS MiB": rss_clf,
        "pipeline peak RSS MiB": rss_pipe,
    }


def measure_cold_start(
    args: argparse.Namespace, texts: list[str], work: Path, script: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """Cold start: process start to first prediction, interleaved. Median seconds and peak RSS (MiB)."""
    one = work / "one.txt"
    one.write_text(texts[0] + "\n")
    clf_run = str(BIN / "clf-run")
    cold: dict[str, list[float]] = {"clf-run": [], "pipeline script": []}
    rss: dict[str, float] = {}
    for _ in range(args.cold_runs):
        t, r, _ = run_process([clf_run, str(one), "--model", str(args.artifact)])
        cold["clf-run"].append(t)
        rss["clf-run"] = r
        t, r, _ = run_process([sys.executable, str(script), str(args.model_dir), str(one)])
        cold["pipeline script"].append(t)
        rss["pipeline script"] = r
    return {k: statistics.median(v) for k, v in cold.items()}, rss


def ratios(report: dict) -> dict:
    short = report["latency_batch1"]["short texts"]
    ours = short["clf_runtime int8"]["p50_ms"]
    floor = min(v["p50_ms"] for k, v in short.items() if k.startswith("bare session"))
    cold = report["cold_start_s"]
    thr = report["throughput"]

    def p50(name: str) -> float:
        return short[name]["p50_ms"]

    out = {
        "clf int8 p50 / floor p50 (target <= 1.10)": ours / floor,
        "pipeline p50 / clf int8 p50 (target >= 4)": short["transformers pipeline fp32"]["p50_ms"] / ours,
        "Optimum, same int8 graph: p50 / clf int8 p50 (target >= 1.3)": p50("Optimum ORTModel int8 pipeline")
        / ours,
        "Optimum, own ORTQuantizer int8: p50 / clf int8 p50": p50("Optimum ORTModel, own ORTQuantizer int8")
        / ours,
        "PyTorch eager p50 / clf int8 p50": short["PyTorch eager fp32"]["p50_ms"] / ours,
        "clf-run / pipeline throughput (target >= 3)": thr["clf-run texts/s (whole process)"]
        / thr["pipeline batch 32 texts/s (whole process)"],
        "pipeline / clf-run cold start (target >= 6)": cold["pipeline script"] / cold["clf-run"],
        "clf-run cold start s (target < 0.6)": cold["clf-run"],
        "clf-run peak RSS MiB (target < 150)": thr["clf-run peak RSS MiB"],
    }
    if "accuracy" in report:
        out["int8 - fp32 accuracy, points (target >= -0.5)"] = 100 * (
            report["accuracy"]["int8"] - report["accuracy"]["fp32"]
        )
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"Machine: {env['cpu']}, {env['cores']} cores; onnxruntime {env['onnxruntime']}, "
        f"torch {env['torch']}, "
        f"transformers {env['transformers']}.",
        "",
        "Batch-1 latency, p50 ms (p99 in brackets):",
        "",
    ]
    inputs = list(report["latency_batch1"])
    names = list(report["latency_batch1"][inputs[0]])
    lines.append("| | " + " | ".join(inputs) + " |")
    lines.append("|---" * (len(inputs) + 1) + "|")
    for name in names:
        rows = [report["latency_batch1"][i][name] for i in inputs]
        cells = [f"{r['p50_ms']:.2f} ({r['p99_ms']:.2f})" for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| comparison | measured |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in report["ratios"].items()]
    lines += ["", "| other | value |", "|---|---|"]
    for k, v in report["throughput"].items():
        lines.append(f"| {k} | {v:.0f} |")
    for k, v in report["cold_start_s"].items():
        lines.append(f"| cold start {k} (s) | {v:.2f} |")
    for k, v in report["sizes_bytes"].items():
        lines.append(f"| {k} (MB) | {v / 1e6:.1f} |")
    for k, v in report.get("venv_site_packages_bytes", {}).items():
        lines.append(f"| venv with {k} (MB) | {v / 1e6:.0f} |")
    if "accuracy" in report:
        a = report["accuracy"]
        lines.append(
            f"| accuracy fp32 / int8 on {a['n']} texts | {100 * a['fp32']:.2f} / {100 * a['int8']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    short = report["latency_batch1"]["short texts"]
    names = list(short)
    values = [short[n]["p50_ms"] for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1))
    colors = ["#4c72b0" if n.startswith("clf") else "#999999" for n in names]
    ax.barh(names[::-1], values[::-1], color=colors[::-1])
    ax.set_xlabel("p50 latency, ms (batch 1, short texts; lower is better)")
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
