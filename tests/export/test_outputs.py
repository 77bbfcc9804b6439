"""clf-export's output folder, its input files and OS errors: one-line errors, no user file lost."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from clf_export.cli import main
from clf_export.int8_texts import load_int8_texts
from clf_export.validation_data import load_validation
from clf_runtime.errors import InputError
from clf_runtime.outdir import MARKER_NAME

from .conftest import make_model

AWKWARD = ["refund\u2028please", "app\x85crash", "bug\x0creport", "late\u2029parcel", "é 🙂"]


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output, result.output
    return result.output


def test_rerun_replaces_own_output_never_user_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_model(tmp_path / "clf-trained", "bert", "single_label")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    for args in (["--output", "mine"], ["--output", "mine", "--overwrite"]):
        assert "did not write (it holds notes.md)" in one_line_error(CliRunner().invoke(main, args))
    for dot in (".", str(tmp_path), "/"):
        out = one_line_error(CliRunner().invoke(main, ["--output", dot, "--overwrite"]))
        assert "current folder or one above it" in out
    out = one_line_error(CliRunner().invoke(main, ["--output", "clf-trained", "--overwrite"]))
    assert "holds the input clf-trained" in out

    fast = ["--quantize", "none"]
    assert CliRunner().invoke(main, fast).exit_code == 0
    (tmp_path / "clf-model" / "README.txt").write_text("added by a user")
    out = one_line_error(CliRunner().invoke(main, [*fast, "--overwrite"]))
    assert "holds files clf-export did not write (README.txt)" in out
    assert (tmp_path / "clf-model" / "README.txt").read_text() == "added by a user"
    (tmp_path / "clf-model" / "README.txt").unlink()
    result = CliRunner().invoke(main, fast)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "clf-model" / MARKER_NAME).read_text())["tool"] == "clf-export"
    assert sorted(os.listdir(tmp_path)) == ["clf-model", "clf-trained", "mine"]  # no .tmp-*/.old-*
    assert (mine / "notes.md").read_text() == "mine"


def test_bad_input_files_are_one_line(tmp_path: Path) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    latin1 = tmp_path / "val.csv"
    latin1.write_bytes("text,label\ncaf\xe9,neg\n".encode("latin-1"))
    cases = {
        ("--validation", str(tmp_path)): "is a folder",
        ("--validation", str(latin1)): "not valid UTF-8",
        ("--validation", str(tmp_path / "nope.jsonl")): "does not exist",
        ("--quantize", "int8-static", "--calibration", str(tmp_path)): "is a folder",
        ("--quantize", "int8-static", "--calibration", str(latin1)): "not valid UTF-8",
    }
    for args, message in cases.items():
        result = CliRunner().invoke(main, [str(model), "--output", str(tmp_path / "m"), *args])
        assert message in one_line_error(result)
    assert not (tmp_path / "m").exists()


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A real EFBIG from the kernel (a file-size limit stands in for a full disk)."""
    make_model(tmp_path / "hf", "bert", "single_label")
    code = textwrap.dedent(
        f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, {resource.RLIM_INFINITY}))
        from clf_export.cli import main
        main(["hf", "--output", "art", "--quantize", "none"])
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        "Error: cannot write the output art: File too large; "
        "the file is too large for this file system; choose another location"
    )
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_validation_csv_keeps_awkward_texts_and_uses_the_separator(tmp_path: Path) -> None:
    path = tmp_path / "val.csv"
    rows = [f'"{t}\nsecond line",a|b' for t in AWKWARD]  # a quoted cell may hold a newline too
    path.write_text("text,label\r\n" + "\r\n".join(rows) + "\r\n", encoding="utf-8")
    data = load_validation(path, "multi_label", ("a", "b"), False, 100, separator="|")
    assert data.texts == [f"{t}\nsecond line" for t in AWKWARD]
    assert data.labels == [["a", "b"]] * len(AWKWARD)
    with pytest.raises(InputError, match="label 'a\\|b' is not one of the model's labels"):
        load_validation(path, "multi_label", ("a", "b"), False, 100, separator=";")


def test_calibration_reads_plain_text_lines(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes(("\ufeff" + "\r\n".join(AWKWARD) + "\r\n\n\n").encode())  # BOM, CRLF, blank lines
    assert load_int8_texts(path, text_pair=False, limit=100) == AWKWARD
    assert len(load_int8_texts(path, text_pair=False, limit=2)) == 2
    pairs = tmp_path / "pairs"  # no suffix: plain text too
    pairs.write_text("a\u2028b\tc\x85d\nsecond\tpair\n", encoding="utf-8")
    assert load_int8_texts(pairs, text_pair=True, limit=10) == [("a\u2028b", "c\x85d"), ("second", "pair")]
    with pytest.raises(InputError, match="line 1: a pair model needs 'text<TAB>text_pair'"):
        load_int8_texts(path, text_pair=True, limit=10)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(InputError, match="holds no texts"):
        load_int8_texts(tmp_path / "empty.txt", text_pair=False, limit=10)
    table = tmp_path / "texts.jsonl"
    table.write_text("".join(json.dumps({"text": t}) + "\n" for t in AWKWARD))
    assert load_int8_texts(table, text_pair=False, limit=100) == AWKWARD
