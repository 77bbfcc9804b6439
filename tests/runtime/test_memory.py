"""Memory stays bounded on any input: one huge line costs what a short one does.

The issue: a single 70 MB line without a newline took several GB and aborted, because the whole line
was read, decoded and tokenized before truncation. Measured from the process itself: Python's own
allocations with tracemalloc, and the whole process's peak RSS (ru_maxrss) in a fresh interpreter.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from clf_runtime import TextClassifier
from clf_runtime.stream import BYTES_PER_TOKEN, StreamOptions, classify_stream, read_inputs

from .conftest import fixture_path, runtime_env

BERT = fixture_path("tiny-bert")
HUGE = 48 << 20  # bytes in the one line


def write_huge(path: Path, newline: bool = False) -> Path:
    block = b"refund please " * 4096
    with open(path, "wb") as f:
        for _ in range(HUGE // len(block)):
            f.write(block)
        if newline:
            f.write(b"\nsecond line\n")
    return path


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    return write_huge(tmp_path_factory.mktemp("huge") / "huge.txt")


@pytest.fixture(scope="module")
def normal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("normal") / "normal.txt"
    path.write_text("refund please\n", encoding="utf-8")
    return path


def python_peak(clf: TextClassifier, path: Path) -> int:
    with open(path, "rb") as source:
        tracemalloc.start()
        try:
            classify_stream(clf, source, io.StringIO(), StreamOptions())
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_huge_line_allocates_what_a_short_line_does(huge: Path, normal: Path) -> None:
    clf = TextClassifier.load(BERT, provider="cpu")
    baseline = python_peak(clf, normal)
    peak = python_peak(clf, huge)
    assert peak < baseline + (1 << 20), (peak, baseline)  # within 1 MB; the line is 48 MB


def rss_kib(path: Path) -> int:
    code = (
        "import resource, sys\n"
        "from clf_runtime.cli.run import main\n"
        "try:\n"
        f"    main([{str(path)!r}, '-m', {str(BERT)!r}, '-o', '/dev/null'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=runtime_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])  # KiB on Linux


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_huge_line_peak_rss_is_within_a_few_mb_of_a_normal_file(huge: Path, normal: Path) -> None:
    normal_kib, huge_kib = rss_kib(normal), rss_kib(huge)
    assert huge_kib < normal_kib + 8 * 1024, (huge_kib, normal_kib)


def test_long_line_is_cut_per_field_and_the_rest_skipped(tmp_path: Path) -> None:
    limit = 32 * BYTES_PER_TOKEN
    path = write_huge(tmp_path / "two.txt", newline=True)
    with open(path, "rb") as f:
        lines = list(read_inputs(f, text_pair=False, max_chars=limit))
    assert [len(x) for x in lines] == [limit, len("second line")]
    pair = io.BytesIO(b"a" * 100_000 + b"\t" + b"b" * 100_000 + b"\r\nx\ty\n")
    got = list(read_inputs(pair, text_pair=True, max_chars=1000))
    assert got == [("a" * 1000, "b" * 1000), ("x", "y")]


def test_cut_inside_a_multibyte_character_is_not_an_error() -> None:
    line = "é" * 10_000 + "\n"  # two bytes each: a cut at any byte may split one
    got = list(read_inputs(io.BytesIO(line.encode()), text_pair=False, max_chars=999))
    assert got == ["é" * 999]


def test_release_free_memory_is_safe_to_call_any_time() -> None:
    from clf_runtime.loading import release_free_memory

    clf = TextClassifier.load(BERT, provider="cpu")
    before = clf.logits(["refund please", "where is my parcel"])
    release_free_memory()  # glibc: malloc_trim; elsewhere nothing
    np.testing.assert_array_equal(clf.logits(["refund please", "where is my parcel"]), before)
