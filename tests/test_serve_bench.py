"""Smoke test of benchmarks/serve_bench.py on the tiny fixture, a fraction of a second per cell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")

ROOT = Path(__file__).parent.parent


def test_serve_benchmark_runs_and_stops_by_itself(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "serve_bench.py"),
        "--model", str(ROOT / "tests" / "fixtures" / "tiny-bert" / "artifact"),
        "--duration", "0.3", "--clients", "1,4", "--rounds", "1", "--json", str(out),
    ]  # fmt: skip
    result = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text())
    assert len(report["rows"]) == 2 * 2 * 2  # 2 servers x 2 kinds of text x 2 client counts
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in report["rows"])
    assert {r["mean_batch"] for r in report["rows"] if "no batching" in r["mode"]} == {1.0}
    assert "batching / no batching texts/s at 4 clients" in result.stdout
