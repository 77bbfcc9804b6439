"""`clf-run` through click's CliRunner: every format, every user error, no tracebacks."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clf_runtime import TextClassifier
from clf_runtime.cli.run import main

from .conftest import fixture_path

BERT = str(fixture_path("tiny-bert"))
LINES = ["where is my refund", "", "the app crashed", "Ünïcödé ñ", "   "]


def run(*args: str, input: str | bytes | None = None, env: dict | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def reference() -> list:
    return TextClassifier.load(BERT, provider="cpu").predict(LINES)


def test_text_format_one_row_per_line_including_empty(text_file: Path) -> None:
    result = run(str(text_file), "--model", BERT)
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert len(rows) == len(LINES)
    for row, pred in zip(rows, reference(), strict=True):
        label, score = row.split("\t")
        assert label == pred.label and float(score) == pytest.approx(pred.score, abs=1e-5)


def test_jsonl_has_the_python_fields(text_file: Path) -> None:
    result = run(str(text_file), "--model", BERT, "--format", "jsonl")
    objs = [json.loads(line) for line in result.output.splitlines()]
    assert [o["label"] for o in objs] == [p.label for p in reference()]
    assert set(objs[0]) == {"label", "score", "scores"}
    assert set(objs[0]["scores"]) == {"negative", "neutral", "positive"}


def test_csv_and_top_k(text_file: Path) -> None:
    rows = list(csv.reader(io.StringIO(run(str(text_file), "--model", BERT, "--format", "csv").output)))
    assert rows[0] == ["label", "score", "negative", "neutral", "positive"]
    assert len(rows) == len(LINES) + 1
    top = run(str(text_file), "--model", BERT, "--top-k", "2").output.splitlines()
    assert all(len(r.split("\t")) == 4 for r in top)
    first = reference()[0].top(2)
    assert top[0].split("\t")[0::2] == [first[0][0], first[1][0]]


def test_stdin_and_env_model() -> None:
    result = run("-", input="refund please\nhello\n", env={"CLF_MODEL": BERT})
    assert result.exit_code == 0 and len(result.output.splitlines()) == 2


def test_output_file_written_whole(text_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.jsonl"
    result = run(str(text_file), "--model", BERT, "--format", "jsonl", "--output", str(out))
    assert result.exit_code == 0 and result.output == ""
    assert len(out.read_text().splitlines()) == len(LINES)


def test_non_utf8_line_is_named_and_output_not_left(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    out = tmp_path / "out.txt"
    result = run(str(path), "--model", BERT, "--output", str(out))
    assert result.exit_code == 1
    assert "line 3: not valid UTF-8" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_missing_model_folder(text_file: Path, tmp_path: Path) -> None:
    result = run(str(text_file), "--model", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "does not exist" in result.output


def test_default_model_folder_is_clf_model(text_file: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLF_MODEL", raising=False)
    result = run(str(text_file))
    assert result.exit_code == 1 and "clf-model does not exist" in result.output


def test_missing_input_file(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.txt"), "--model", BERT)
    assert result.exit_code == 1 and "does not exist" in result.output


def test_tampered_model(text_file: Path, artifact_copy) -> None:
    folder = artifact_copy()
    (folder / "model.int8.onnx").write_bytes(b"garbage")
    result = run(str(text_file), "--model", str(folder))
    assert result.exit_code == 1 and "truncated" in result.output


def test_other_format_version(text_file: Path, artifact_copy) -> None:
    folder = artifact_copy()
    data = json.loads((folder / "clf.json").read_text())
    data["format_version"] = 99
    (folder / "clf.json").write_text(json.dumps(data))
    result = run(str(text_file), "--model", str(folder))
    assert result.exit_code == 1 and "format version 99" in result.output


def test_unknown_provider(text_file: Path) -> None:
    result = run(str(text_file), "--model", BERT, "--provider", "tpu")
    assert result.exit_code == 2 and "tpu" in result.output


def test_threshold_needs_multi_label(text_file: Path) -> None:
    result = run(str(text_file), "--model", BERT, "--threshold", "0.3")
    assert result.exit_code == 1 and "multi-label" in result.output


def test_multi_label_threshold_option(text_file: Path) -> None:
    multi = str(fixture_path("tiny-multi"))
    everything = run(str(text_file), "--model", multi, "--threshold", "0", "--format", "jsonl").output
    assert all(len(json.loads(r)["labels"]) == 4 for r in everything.splitlines())
    nothing = run(str(text_file), "--model", multi, "--threshold", "1").output
    assert all(r.split("\t")[0] == "" for r in nothing.splitlines())


def test_pair_model_reads_tabs(tmp_path: Path) -> None:
    pair = str(fixture_path("tiny-pair"))
    path = tmp_path / "pairs.tsv"
    path.write_text("a cat\ta dog\n\nrefund\tmoney back\n", encoding="utf-8")
    result = run(str(path), "--model", pair, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    values = [json.loads(r)["value"] for r in result.output.splitlines()]
    clf = TextClassifier.load(pair, provider="cpu")
    expected = [p.value for p in clf.predict([("a cat", "a dog"), ("", ""), ("refund", "money back")])]
    assert values == pytest.approx(expected, abs=1e-5)
    path.write_text("no tab here\n", encoding="utf-8")
    bad = run(str(path), "--model", pair)
    assert bad.exit_code == 1 and "line 1" in bad.output and "tab" in bad.output


def test_chunked_streaming_keeps_order(tmp_path: Path) -> None:
    from clf_runtime.stream import StreamOptions, classify_stream

    lines = [f"order {i} " + "refund " * (i % 7) for i in range(100)]
    clf = TextClassifier.load(BERT, provider="cpu", precision="fp32")
    sink = io.StringIO()
    count = classify_stream(
        clf, io.BytesIO("\n".join(lines).encode()), sink, StreamOptions(fmt="jsonl", chunk_lines=7)
    )
    assert count == 100
    got = [json.loads(r)["label"] for r in sink.getvalue().splitlines()]
    assert got == [p.label for p in clf.predict(lines)]
