"""clf-batch throughput with each engine beside single-process clf-run, measured in one run.

    python benchmarks/batch_bench.py --model clf-model --rows 200000 \
        --texts ../shared/data/banking77/train.csv

Writes the same N short texts as a text file (for clf-run) and a Parquet file (for clf-batch), then
times, as separate processes on this machine's cores: clf-run; clf-batch --engine local; ray and
spark with 1 and with 2 workers (one thread each). Each engine's start-up cost is timed on a 10-row
input first. Prints texts/s end to end, texts/s without the start-up cost, and each one's ratio to
clf-run (the target: Ray and Spark at 0.8x of clf-run or better). Not a test: numbers move with
the machine, ratios measured side by side are what to compare.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def texts_from(path: Path | None, column: str, rows: int) -> list[str]:
    """`rows` texts: the CSV's column repeated, or generated sentences."""
    if path is None:
        base = [f"order {i} arrived {'late' if i % 3 else 'broken'}, I want a refund" for i in range(1000)]
    else:
        with open(path, newline="", encoding="utf-8") as f:
            base = [row[column] for row in csv.DictReader(f)]
    return [base[i % len(base)] for i in range(rows)]


def write_inputs(texts: list[str], folder: Path) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    txt = folder / "texts.txt"
    txt.write_text("".join(t.replace("\n", " ").replace("\t", " ") + "\n" for t in texts), encoding="utf-8")
    parquet = folder / "texts.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), parquet)
    return txt, parquet


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return seconds


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--texts", type=Path, default=None, help="CSV to take texts from (cycled).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--engines", default="local,ray,spark")
    parser.add_argument("--worker-counts", default="1,2", help="Ray/Spark workers to try, one thread each.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    results = measure(args, batch_configs(args))
    report(args.rows, args.model, results)
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2) + "\n")


def batch_configs(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, clf-batch flags) of each engine asked for: local, then ray and spark per worker count."""
    engines = [e for e in args.engines.split(",") if e]
    configs: list[tuple[str, list[str]]] = [("local", ["--engine", "local"])]
    for engine in ("ray", "spark"):
        if engine in engines:
            for workers in [int(w) for w in args.worker_counts.split(",")]:
                configs.append(
                    (
                        f"{engine} x{workers}",
                        ["--engine", engine, "--workers", str(workers), "--threads", "1"],
                    )
                )
    return [(name, extra) for name, extra in configs if name.split()[0] in engines]


def measure(args: argparse.Namespace, configs: list[tuple[str, list[str]]]) -> dict[str, dict[str, float]]:
    """Seconds of clf-run and of each clf-batch config on the rows, and on 10 rows (the start-up)."""
    py = sys.executable
    run_cli = [py, "-m", "clf_runtime.cli.run"]
    batch_cli = [py, "-m", "clf_runtime.cli.batch"]
    with tempfile.TemporaryDirectory(prefix="clf-batch-bench-") as tmp:
        folder = Path(tmp)
        txt, parquet = write_inputs(texts_from(args.texts, args.text_column, args.rows), folder)
        (folder / "small").mkdir()
        _, small = write_inputs(texts_from(args.texts, args.text_column, 10), folder / "small")
        model = ["--model", str(args.model)]

        small_txt = folder / "small" / "texts.txt"
        results: dict[str, dict[str, float]] = {}
        startup = timed([*run_cli, str(small_txt), *model, "--output", str(folder / "run-small.txt")])
        seconds = timed([*run_cli, str(txt), *model, "--output", str(folder / "run.txt")])
        results["clf-run"] = {"seconds": seconds, "startup": startup}
        for name, extra in configs:
            out = folder / name.replace(" ", "-")
            startup = timed([*batch_cli, str(small), "-o", str(out) + "-small", *model, *extra])
            seconds = timed([*batch_cli, str(parquet), "-o", str(out), *model, *extra])
            results[name] = {"seconds": seconds, "startup": startup}
    return results


def report(rows: int, model: Path, results: dict[str, dict[str, float]]) -> None:
    """Print the table and add texts/s and the ratios to clf-run to each result."""
    base = rows / results["clf-run"]["seconds"]
    print(f"{rows} texts, model {model}, {os.cpu_count()} CPUs")
    heads = ("seconds", "texts/s", "x clf-run", "start-up s", "steady t/s")
    print(f"{'':12} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, (8, 8, 9, 10, 10))))
    for name, r in results.items():
        rate = rows / r["seconds"]
        r.update(texts_per_s=rate, ratio=rate / base)
        line = f"{name:12} {r['seconds']:8.1f} {rate:8.0f} {rate / base:9.2f} {r['startup']:10.1f}"
        # Without the start-up cost, only where it is a small part of the run: both are measured
        # in separate processes, and on a busy machine their difference alone means little.
        if r["seconds"] > 2 * r["startup"]:
            steady = rows / (r["seconds"] - r["startup"])
            r.update(steady_texts_per_s=steady)
            line += f" {steady:10.0f}"
        print(line)
    steady_base = results["clf-run"].get("steady_texts_per_s")
    if steady_base:
        for r in results.values():
            if "steady_texts_per_s" in r:
                r["steady_ratio"] = r["steady_texts_per_s"] / steady_base
        print(
            "steady ratios: "
            + ", ".join(f"{n} {r['steady_ratio']:.2f}" for n, r in results.items() if "steady_ratio" in r)
        )


if __name__ == "__main__":
    main()
