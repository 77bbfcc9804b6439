"""Which CPUs compute an int8 variant exactly (clf_runtime.cpu), the manifest's typed record, and
the one-line warning where a CPU would compute the model differently than the export checked it."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from clf_runtime import ArtifactError, TextClassifier
from clf_runtime.cpu import OVERRIDE_ENV, Cpu, Int8Arithmetic, exact_int8, int8_problem, this_cpu
from clf_runtime.errors import CpuWarning
from clf_runtime.trust import load_manifest

from .conftest import edit_manifest, fixture_path, runtime_env

AVX2 = Cpu("x86_64", frozenset({"avx2"}))
AVX512 = Cpu("x86_64", frozenset({"avx2", "avx512f", "avx512bw"}))
VNNI = Cpu("x86_64", frozenset({"avx2", "avx512f", "avx512bw", "avx512_vnni"}))
AVX_VNNI = Cpu("x86_64", frozenset({"avx2", "avx_vnni"}))
ARM = Cpu("arm64", frozenset())
EIGHT_BIT = {"target": "avx512_vnni", "weight_type": "QInt8", "reduce_range": False, "mode": "static"}


@pytest.mark.parametrize(
    ("arithmetic", "exact_on"),
    [
        (Int8Arithmetic("QInt8", reduce_range=True), {"AVX2", "AVX512", "VNNI", "AVX_VNNI", "ARM"}),
        (Int8Arithmetic("QUInt8"), {"AVX2", "AVX512", "VNNI", "AVX_VNNI", "ARM"}),
        (Int8Arithmetic("QInt8", reduce_range=False), {"VNNI", "AVX_VNNI", "ARM"}),
    ],
)
def test_exact_on_the_cpus_whose_sums_cannot_saturate(arithmetic: Int8Arithmetic, exact_on: set) -> None:
    cpus = {"AVX2": AVX2, "AVX512": AVX512, "VNNI": VNNI, "AVX_VNNI": AVX_VNNI, "ARM": ARM}
    assert {name for name, cpu in cpus.items() if exact_int8(arithmetic, cpu)} == exact_on


def test_problem_names_the_cpu_and_both_fixes() -> None:
    problem = int8_problem(EIGHT_BIT, AVX2)
    assert problem is not None and "\n" not in problem
    assert "avx512_vnni" in problem and "x86_64 (avx2)" in problem
    assert "--target portable" in problem and "--precision fp32" in problem
    assert int8_problem(EIGHT_BIT, VNNI) is None
    assert int8_problem({**EIGHT_BIT, "reduce_range": True}, AVX2) is None
    assert int8_problem({}, AVX2) is None  # an older artifact that does not say: no guess


def test_this_cpu_reports_flags_and_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    this_cpu.cache_clear()
    monkeypatch.setenv(OVERRIDE_ENV, "avx2, AVX512F,bogus")
    try:
        assert this_cpu() == Cpu("x86_64", frozenset({"avx2", "avx512f"}))
    finally:
        monkeypatch.delenv(OVERRIDE_ENV)
        this_cpu.cache_clear()
    assert this_cpu().arch  # whatever the machine, it has a name
    assert "(" in this_cpu().describe()


def test_fixtures_are_exported_with_the_portable_default() -> None:
    for name in ("tiny-bert", "tiny-multi", "tiny-pair"):
        record = load_manifest(fixture_path(name)).quantization["int8"]
        assert record["target"] == "portable"
        assert record["reduce_range"] is True and record["per_channel"] is True
        assert isinstance(record["op_types"], list) and "MatMul" in record["op_types"]
        assert Int8Arithmetic.of(record).portable


def test_manifest_reads_an_older_exporters_strings_as_types(artifact_copy) -> None:
    folder = artifact_copy()
    legacy = {
        "target": "avx512_vnni",
        "weight_type": "QInt8",
        "per_channel": "True",
        "reduce_range": "False",
        "op_types": "['Conv', 'MatMul', 'Attention']",
        "mode": "static",
        "batch_independent": True,
        "fp32_nodes": [],
    }
    edit_manifest(folder, quantization={"int8": legacy})
    record = load_manifest(folder).quantization["int8"]
    assert record["per_channel"] is True and record["reduce_range"] is False
    assert record["op_types"] == ["Conv", "MatMul", "Attention"]


@pytest.mark.parametrize(
    "bad",
    [
        {"reduce_range": "yes"},
        {"reduce_range": 1},
        {"op_types": "MatMul"},
        {"op_types": ["MatMul", 3]},
        {"weight_type": "int8"},
        {"calibration_samples": -1},
        {"target": ["portable"]},
    ],
)
def test_manifest_refuses_mistyped_quantization_fields(artifact_copy, bad: dict) -> None:
    folder = artifact_copy()
    record = {**load_manifest(folder).quantization["int8"], **bad}
    edit_manifest(folder, quantization={"int8": record})
    with pytest.raises(ArtifactError, match="quantization"):
        load_manifest(folder)


def _eight_bit_copy(artifact_copy) -> Path:
    """The fixture with a manifest that says its int8 weights use 8 bits (avx512_vnni target).

    Only the record changes (clf.json is not among the hashed files): the warning reads the record."""
    folder = artifact_copy()
    record = load_manifest(folder).quantization["int8"]
    edit_manifest(folder, quantization={"int8": {**record, **EIGHT_BIT}})
    return folder


def test_classifier_warns_once_and_says_why(artifact_copy, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _eight_bit_copy(artifact_copy)
    this_cpu.cache_clear()
    monkeypatch.setenv(OVERRIDE_ENV, "avx2")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = TextClassifier.load(folder)
            fp32 = TextClassifier.load(folder, precision="fp32")
        monkeypatch.setenv(OVERRIDE_ENV, "avx2,avx512_vnni")
        this_cpu.cache_clear()
        vnni = TextClassifier.load(folder)
        portable = TextClassifier.load(fixture_path("tiny-bert"))
    finally:
        monkeypatch.delenv(OVERRIDE_ENV)
        this_cpu.cache_clear()
    assert [w.category for w in caught] == [CpuWarning]
    assert clf.cpu_warning == str(caught[0].message) and "--target portable" in clf.cpu_warning
    assert fp32.cpu_warning is None and vnni.cpu_warning is None and portable.cpu_warning is None


def _cli(tool: str, *args: str, flags: str) -> subprocess.CompletedProcess:
    code = f"import sys; from clf_runtime.cli.{tool} import main; sys.argv[0] = 'clf-{tool}'; main()"
    env = {**runtime_env(), OVERRIDE_ENV: flags}
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_clf_run_prints_one_line_with_the_fix(artifact_copy, tmp_path: Path) -> None:
    folder = _eight_bit_copy(artifact_copy)
    texts = tmp_path / "in.txt"
    texts.write_text("where is my refund\nthe app crashed\n", encoding="utf-8")
    warned = _cli("run", str(texts), "--model", str(folder), flags="avx2")
    assert warned.returncode == 0, warned.stderr
    lines = warned.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clf-run: warning: this int8 model"), lines
    assert len(warned.stdout.splitlines()) == 2
    quiet = _cli("run", str(texts), "--model", str(fixture_path("tiny-bert")), flags="avx2")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert _cli("run", str(texts), "--model", str(folder), flags="avx2,avx512_vnni").stderr == ""


def test_clf_batch_prints_one_line_with_the_fix(artifact_copy, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")  # the batch extra
    folder = _eight_bit_copy(artifact_copy)
    data = tmp_path / "in.csv"
    data.write_text("text\nwhere is my refund\n", encoding="utf-8")
    result = _cli("batch", str(data), "--output", str(tmp_path / "out"), "--model", str(folder), flags="avx2")
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("clf-batch: warning: this int8 model"), result.stderr


def test_clf_bench_shows_the_cpu_and_the_target() -> None:
    result = _cli(
        "bench",
        "--model",
        str(fixture_path("tiny-bert")),
        "--runs",
        "2",
        "--throughput-texts",
        "8",
        "--lengths",
        "16",
        flags="avx2,avx512_vnni",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "cpu: x86_64 (avx2 avx512_vnni), int8 target portable"
    as_json = _cli(
        "bench",
        "--model",
        str(fixture_path("tiny-bert")),
        "--runs",
        "2",
        "--json",
        "--throughput-texts",
        "8",
        "--lengths",
        "16",
        flags="avx2",
    )
    row = json.loads(as_json.stdout)[0]
    assert row["int8_target"] == "portable" and row["cpu_warning"] is None


def test_clf_serve_prints_one_line_with_the_fix_before_it_listens(artifact_copy) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("httptools")
    pytest.importorskip("prometheus_client")
    folder = _eight_bit_copy(artifact_copy)
    cmd = [sys.executable, "-m", "clf_runtime.cli.serve", "--model", str(folder), "--port", "0"]
    env = {**runtime_env(), OVERRIDE_ENV: "avx2"}
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        lines = [proc.stderr.readline() for _ in range(2)]  # the warning, then the address
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "warning: this int8 model" in lines[0] and "--target portable" in lines[0], lines
    assert "on http://127.0.0.1:" in lines[1], lines
