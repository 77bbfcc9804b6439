"""Smoke test of benchmarks/run.py on the tiny fixture, a few iterations, so it does not rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_benchmark_script_runs_on_tiny_fixture(tmp_path: Path) -> None:
    fixture = ROOT / "tests" / "fixtures" / "tiny-bert"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "run.py"),
        "--model-dir", str(fixture / "hf"), "--artifact", str(fixture / "artifact"),
        "--rounds", "1", "--per-round", "3", "--lengths", "16", "--throughput-texts", "50",
        "--cold-runs", "1", "--floor-levels", "O2", "--skip-venv-sizes", "--out", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    report = json.loads((tmp_path / "results.json").read_text())
    short = report["latency_batch1"]["short texts"]
    assert {
        "transformers pipeline fp32",
        "clf_runtime int8",
        "bare session int8 (O2 fused)",
        "Optimum ORTModel, own ORTQuantizer int8",
    } <= set(short)
    assert all(v["p50_ms"] > 0 for v in short.values())
    assert report["ratios"]["clf-run peak RSS MiB (target < 150)"] > 10
    assert (tmp_path / "latency.png").stat().st_size > 1000
    assert "Batch-1 latency" in (tmp_path / "results.md").read_text()


def test_batch_dependence_script_runs_on_tiny_fixture(tmp_path: Path) -> None:
    fixture = ROOT / "tests" / "fixtures" / "tiny-bert"
    data = tmp_path / "data.csv"
    data.write_text(
        "text,label\n"
        + "".join(f"text number {i} here,{'positive' if i % 2 else 'negative'}\n" for i in range(40))
    )
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "batch_dependence.py"), str(fixture / "artifact"),
        "--data", str(data), "--texts", "20", "--runs", "3", "--rounds", "1",
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    assert "artifact/int8" in out and "artifact/fp32" in out and "vs base" in out


def test_footprint_script_runs_on_tiny_fixture(tmp_path: Path) -> None:
    fixture = ROOT / "tests" / "fixtures" / "tiny-bert" / "artifact"
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"text number {i} here\n" for i in range(50)))
    src = ROOT / "runtime" / "src"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "footprint.py"), "--model", str(fixture),
        "--texts", str(texts), "--config", f"a={src}", "--config", f"b={src}::--batch-size 8",
        "--rounds", "1", "--cold-runs", "1", "--json", str(tmp_path / "out.json"),
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    rows = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert [r["config"] for r in rows] == ["a", "b"] and rows[1]["args"] == ["--batch-size", "8"]
    assert all(r["peak_mib"] >= r["after_load_mib"] > 10 and r["cold_start_s"] > 0 for r in rows)
    assert "ratios against a" in out
