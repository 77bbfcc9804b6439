"""Smoke test of benchmarks/batch_bench.py (local engine, tiny fixture), so it does not rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

ROOT = Path(__file__).parent.parent


def test_batch_benchmark_runs_on_tiny_fixture(tmp_path: Path) -> None:
    model = ROOT / "tests" / "fixtures" / "tiny-bert" / "artifact"
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "batch_bench.py"), "--model", str(model), "--rows", "40",
           "--engines", "local", "--json", str(out)]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "runtime" / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, env=env)
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"clf-run", "local"}
    assert all(r["texts_per_s"] > 0 and r["ratio"] > 0 for r in results.values())
