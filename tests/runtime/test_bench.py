"""Smoke test of clf-bench on the tiny fixture: it runs, reports sane numbers, and cuts exact lengths."""

from __future__ import annotations

import json

from click.testing import CliRunner

from clf_runtime import TextClassifier
from clf_runtime.bench import text_of_tokens
from clf_runtime.cli.bench import main

from .conftest import fixture_path


def test_text_of_tokens_has_that_many_tokens() -> None:
    clf = TextClassifier.load(fixture_path("tiny-bert"))
    for n in (8, 16, 32):
        assert len(clf.tokenizer.encode(text_of_tokens(clf, n)).ids) == n


def test_clf_bench_json() -> None:
    args = [
        "--model",
        str(fixture_path("tiny-bert")),
        "--runs",
        "5",
        "--lengths",
        "16,32,999",
        "--throughput-texts",
        "50",
        "--json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    names = [row["name"] for row in report["latency"]]
    assert names == ["short texts", "16 tokens", "32 tokens"]  # 999 > max_length: skipped
    assert all(0 < row["p50_ms"] <= row["p99_ms"] for row in report["latency"])
    assert report["throughput_texts_per_s"] > 0


def test_clf_bench_table_and_bad_lengths() -> None:
    model = str(fixture_path("tiny-pair"))
    table = CliRunner().invoke(main, ["--model", model, "--runs", "3", "--throughput-texts", "10"])
    assert table.exit_code == 0 and "throughput" in table.output and "p50 ms" in table.output
    bad = CliRunner().invoke(main, ["--model", model, "--lengths", "a,b"])
    assert bad.exit_code == 1 and "--lengths" in bad.output
