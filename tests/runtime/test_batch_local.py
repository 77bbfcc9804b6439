"""clf-batch with the local engine: Parquet, CSV and JSONL in, Parquet parts out, bad input refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

import pyarrow.parquet as pq
from click.testing import CliRunner

from clf_runtime.batch import BatchConfig, run
from clf_runtime.cli.batch import main

from .batch_helpers import assert_matches, blank, read_output, table, write
from .conftest import fixture_path


def clf_batch(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_each_format_keeps_columns_and_matches_predict(tmp_path: Path, suffix: str) -> None:
    given = table(null_at=None if suffix == ".csv" else 3)  # CSV has no null, only ""
    src = write(given, tmp_path / f"in{suffix}")
    out = tmp_path / "out"
    result = clf_batch(src, "-o", out, "-m", fixture_path("tiny-bert"), "--precision", "fp32")
    assert result.exit_code == 0, result.output
    got = read_output(out)
    assert got.column_names == [*given.column_names, "label", "score"]
    assert_matches("tiny-bert", got, given)
    marker = json.loads((out / "_clf_batch.json").read_text())
    assert marker["rows"] == given.num_rows
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_folder_of_mixed_files_into_several_parts(tmp_path: Path) -> None:
    given = table(n=30)
    (tmp_path / "in").mkdir()
    write(given.slice(0, 10), tmp_path / "in" / "a.parquet")
    write(given.slice(10, 10), tmp_path / "in" / "b.jsonl")
    write(given.slice(20, 10), tmp_path / "in" / "c.parquet")
    (tmp_path / "in" / "_ignored.csv").write_text("not,read\n")
    (tmp_path / "in" / "notes.txt").write_text("not a table\n")
    config = BatchConfig(
        inputs=(str(tmp_path / "in"),),
        output=tmp_path / "out",
        model=fixture_path("tiny-bert"),
        precision="fp32",
        rows_per_part=4,
    )
    summary = run(config)
    assert summary["rows"] == 30
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) >= 8
    assert_matches("tiny-bert", read_output(tmp_path / "out"), given)


def test_pair_model(tmp_path: Path) -> None:
    given = table("tiny-pair", n=20)
    src = write(given, tmp_path / "pairs.parquet")
    args = [src, "-o", tmp_path / "out", "-m", fixture_path("tiny-pair"), "--precision", "fp32"]
    one_line_error(clf_batch(*args), "--pair-column")
    result = clf_batch(*args, "--pair-column", "other")
    assert result.exit_code == 0, result.output
    assert_matches("tiny-pair", read_output(tmp_path / "out"), given)


def test_multi_label_with_score_columns_and_prefix(tmp_path: Path) -> None:
    given = table("tiny-multi", n=20).append_column("labels", [["x"] * 20])
    src = write(given, tmp_path / "in.jsonl")
    args = [src, "-o", tmp_path / "out", "-m", fixture_path("tiny-multi"), "--precision", "fp32", "--scores"]
    one_line_error(clf_batch(*args), "labels", "--prefix")  # the input has a `labels` column
    result = clf_batch(*args, "--prefix", "pred_")
    assert result.exit_code == 0, result.output
    got = read_output(tmp_path / "out")
    labels = ["billing", "delivery", "bug", "praise"]
    assert got.column_names[-6:] == ["pred_labels", "pred_score", *(f"pred_score_{x}" for x in labels)]
    assert got.column("labels").to_pylist() == ["x"] * 20
    assert_matches("tiny-multi", got, given, prefix="pred_")
    row = got.to_pylist()[0]
    assert row["pred_score"] == max(row[f"pred_score_{x}"] for x in labels)


def test_output_folder_rules(tmp_path: Path) -> None:
    src = write(table(n=5), tmp_path / "in.parquet")
    model = fixture_path("tiny-bert")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    one_line_error(clf_batch(src, "-o", mine, "-m", model), "clf-batch did not write", "keep.txt")
    assert (mine / "keep.txt").read_text() == "precious"

    out = tmp_path / "out"
    assert clf_batch(src, "-o", out, "-m", model).exit_code == 0
    first = sorted(p.name for p in out.iterdir())
    assert clf_batch(src, "-o", out, "-m", model).exit_code == 0  # its own output: replaced
    assert sorted(p.name for p in out.iterdir()) == first

    # A run that fails half-way leaves the earlier output as it was and no temporary folder.
    bad = tmp_path / "bad.csv"
    bad.write_text('text,id\n"unclosed,1\n')
    before = pq.read_table(out / "part-00000.parquet")
    one_line_error(clf_batch(src, bad, "-o", out, "-m", model), "bad.csv")
    assert pq.read_table(out / "part-00000.parquet").equals(before)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("make", "args", "words"),
    [
        (
            lambda d: write(table(n=3), d / "a.csv"),
            ["--text-column", "body"],
            ["no column 'body'", "--text-column"],
        ),
        (lambda d: write(table(n=3), d / "a.csv"), ["--text-column", "amount"], ["does not hold text"]),
        (lambda d: write(table(n=3).slice(0, 0), d / "a.parquet"), [], ["no rows"]),
        (lambda d: d / "missing.parquet", [], ["does not exist"]),
        (lambda d: (d / "a.xlsx").write_text("x") and d / "a.xlsx", [], ["unknown file type"]),
        (
            lambda d: (d / "a.parquet").write_text("not parquet") and d / "a.parquet",
            [],
            ["cannot read it as Parquet"],
        ),
        (
            lambda d: (d / "a.jsonl").write_text('{"text": "ok"}\n{oops\n') and d / "a.jsonl",
            [],
            ["JSON lines"],
        ),
        (lambda d: (d / "e").mkdir() or d / "e", [], ["holds no .parquet"]),
        (lambda d: write(table(n=3), d / "a.csv"), ["--address", "127.0.0.1:1"], ["--engine ray or spark"]),
    ],
    ids=[
        "missing-column",
        "number-column",
        "empty",
        "no-file",
        "suffix",
        "corrupt",
        "bad-json",
        "empty-dir",
        "address",
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, make, args, words) -> None:  # type: ignore[no-untyped-def]
    src = make(tmp_path)
    out = tmp_path / "out"
    one_line_error(clf_batch(src, "-o", out, "-m", fixture_path("tiny-bert"), *args), *words)
    assert not out.exists()


@pytest.mark.parametrize(("engine", "blocked"), [("ray", "ray"), ("spark", "pyspark")])
def test_engine_not_installed_names_the_extra(tmp_path: Path, engine: str, blocked: str) -> None:
    src = write(table(n=3), tmp_path / "a.parquet")
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"  # as if the package were not installed
        "from clf_runtime.cli.batch import main\n"
        f"main([{str(src)!r}, '-o', {str(tmp_path / 'out')!r}, '-m', {str(fixture_path('tiny-bert'))!r},"
        f" '--engine', {engine!r}])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    need = "Ray Data" if engine == "ray" else "PySpark"
    assert (
        done.stderr.strip() == f'Error: the {engine} engine needs {need}: pip install "clf-runtime[{engine}]"'
    )


@pytest.mark.parametrize(
    ("engine", "module", "address", "words"),
    [
        ("ray", "ray", "127.0.0.1:1", ["cannot reach Ray at 127.0.0.1:1", "--address"]),
        ("ray", "ray", "nohost", ["not host:port"]),
        ("spark", "pyspark", "spark://127.0.0.1:1", ["cannot reach Spark at 127.0.0.1:1", "--address"]),
    ],
)
def test_unreachable_cluster_fails_at_once(tmp_path: Path, engine, module, address, words) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip(module)
    src = write(table(n=3), tmp_path / "a.parquet")
    out = tmp_path / "out"
    result = clf_batch(
        src, "-o", out, "-m", fixture_path("tiny-bert"), "--engine", engine, "--address", address
    )
    one_line_error(result, *words)
    assert not out.exists()


# --- folders: the rules of clf-train and clf-export, inputs read once, outputs never read ---------


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_output_holding_files_clf_batch_did_not_write_is_refused(tmp_path: Path) -> None:
    src = write(table(n=5), tmp_path / "in.parquet")
    model = fixture_path("tiny-bert")
    out = tmp_path / "out"
    assert clf_batch(src, "-o", out, "-m", model).exit_code == 0
    marker = json.loads((out / ".clf-output.json").read_text())
    assert marker["tool"] == "clf-batch" and "part-00000.parquet" in marker["entries"]

    # A user's notes and folder put into an earlier output: the next run refuses, nothing is removed.
    (out / "notes.md").write_text("my notes")
    (out / "extra").mkdir()
    (out / "extra" / "keep.csv").write_text("a\n1\n")
    before = snapshot(out)
    one_line_error(clf_batch(src, "-o", out, "-m", model), "clf-batch did not write", "notes.md")
    assert snapshot(out) == before
    (out / "notes.md").unlink()
    one_line_error(clf_batch(src, "-o", out, "-m", model), "extra")
    assert snapshot(out)["extra/keep.csv"] == b"a\n1\n"

    # Another clf tool's output, and a folder with only clf-batch's old summary (no marker).
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "model.safetensors").write_text("w")
    (trained / ".clf-output.json").write_text(
        json.dumps({"format": "clf-output", "tool": "clf-train", "entries": ["model.safetensors"]})
    )
    one_line_error(clf_batch(src, "-o", trained, "-m", model), "clf-train")
    assert (trained / "model.safetensors").read_text() == "w"
    old = tmp_path / "old"
    old.mkdir()
    (old / "_clf_batch.json").write_text("{}")
    (old / "part-00000.parquet").write_text("x")
    one_line_error(clf_batch(src, "-o", old, "-m", model), "did not write")
    assert sorted(p.name for p in old.iterdir()) == ["_clf_batch.json", "part-00000.parquet"]
    # A file where the folder should be; the current folder.
    one_line_error(clf_batch(src, "-o", src, "-m", model), "holds the input")
    (tmp_path / "a-file").write_text("mine")
    one_line_error(clf_batch(src, "-o", tmp_path / "a-file", "-m", model), "not a folder")
    one_line_error(clf_batch(src, "-o", ".", "-m", model), "current folder")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_each_input_file_is_read_once(tmp_path: Path) -> None:
    given = table(n=12)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    write(given.slice(0, 6), data / "a.parquet")
    write(given.slice(6, 6), data / "sub" / "b.jsonl")
    (data / "sub" / "loop").symlink_to(data)  # a link back up: a loop
    (data / "again").symlink_to(data / "sub")  # the same folder twice
    (data / "link.parquet").symlink_to(data / "a.parquet")  # the same file through a link
    os.link(data / "a.parquet", data / "hard.parquet")  # and through a hard link
    out = tmp_path / "out"
    # The folder, one of its files again, and the folder once more under another spelling.
    result = clf_batch(
        data, data / "sub" / "b.jsonl", f"{data}/../data", "-o", out, "-m", fixture_path("tiny-bert")
    )
    assert result.exit_code == 0, result.output
    got = read_output(out)
    assert got.num_rows == 12 and sorted(got.column("id").to_pylist()) == list(range(12))
    summary = json.loads((out / "_clf_batch.json").read_text())
    assert sorted(Path(p).name for p in summary["inputs"]) == ["a.parquet", "b.jsonl"]
    notes = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert len(notes) == len(summary["skipped"]) >= 5
    for word in ("loop", "again", "link.parquet", "hard.parquet", "b.jsonl"):
        assert any(word in line for line in notes), (word, notes)


def test_own_output_is_never_read_back(tmp_path: Path) -> None:
    given = table(n=8)
    data = tmp_path / "data"
    data.mkdir()
    write(given, data / "in.csv")
    model = fixture_path("tiny-bert")
    for _ in range(2):  # the output lives inside the input folder; the second run must not read it
        result = clf_batch(data, "-o", data / "scored", "-m", model)
        assert result.exit_code == 0, result.output
        assert read_output(data / "scored").num_rows == 8
    assert any("--output" in line for line in result.output.splitlines() if line.startswith("skipped"))
    # Another clf-batch output inside the input folder is skipped too; named directly it is read.
    result = clf_batch(data, "-o", tmp_path / "elsewhere", "-m", model)
    assert result.exit_code == 0, result.output
    assert read_output(tmp_path / "elsewhere").num_rows == 8
    assert "earlier clf-batch output" in result.output
    result = clf_batch(data / "scored", "-o", tmp_path / "chained", "-m", model, "--prefix", "again_")
    assert result.exit_code == 0, result.output
    assert read_output(tmp_path / "chained").num_rows == 8
    # An output folder holding an input is refused before anything is written.
    one_line_error(clf_batch(data / "in.csv", "-o", data, "-m", model), "holds the input")
    part = data / "scored" / "part-00000.parquet"
    one_line_error(clf_batch(part, "-o", data / "scored", "-m", model), "holds the input")
    assert part.is_file()


def test_input_links_and_special_files_are_one_line_errors(tmp_path: Path) -> None:
    model = fixture_path("tiny-bert")
    data = tmp_path / "data"
    data.mkdir()
    write(table(n=3), data / "ok.parquet")
    (data / "gone.csv").symlink_to(tmp_path / "missing.csv")
    one_line_error(clf_batch(data, "-o", tmp_path / "out", "-m", model), "gone.csv", "does not exist")
    (data / "gone.csv").unlink()
    (data / "self.csv").symlink_to(data / "self.csv")
    one_line_error(clf_batch(data, "-o", tmp_path / "out", "-m", model), "self.csv")
    (data / "self.csv").unlink()
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    one_line_error(clf_batch(fifo, "-o", tmp_path / "out", "-m", model), "not a regular file")
    # A folder whose only tables are clf-batch's output: nothing to read, said so.
    (tmp_path / "outside").mkdir()
    assert clf_batch(data, "-o", tmp_path / "outside" / "scored", "-m", model).exit_code == 0
    one_line_error(
        clf_batch(tmp_path / "outside", "-o", tmp_path / "outside" / "scored", "-m", model),
        "holds no .parquet",
        "--output folder",
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_empty_and_null_texts_get_the_same_null_predictions(tmp_path: Path, suffix: str) -> None:
    import pyarrow as pa

    texts = ["a refund please", None, "", "   ", "\t\n", "card"]
    if suffix == ".csv":
        texts[1] = ""  # CSV has no null
    given = pa.table({"id": list(range(len(texts))), "text": texts})
    src = write(given, tmp_path / f"in{suffix}")
    out = tmp_path / "out"
    result = clf_batch(src, "-o", out, "-m", fixture_path("tiny-bert"), "--precision", "fp32", "--scores")
    assert result.exit_code == 0, result.output
    rows = read_output(out).to_pylist()
    for row, text in zip(rows, texts):
        nulls = [k for k in row if k.startswith(("label", "score")) and row[k] is None]
        assert (len(nulls) == 5) if blank(text) else not nulls, (text, row)
