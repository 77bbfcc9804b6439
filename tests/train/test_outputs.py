"""clf-train's output folder and the handoff to clf-export, through the real CLIs on a tiny model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import tiny
from click.testing import CliRunner

from clf_runtime.jsonl import read_jsonl
from clf_runtime.outdir import MARKER_NAME, output_folder
from clf_train.cli import main
from clf_train.handoff import read_handoff

# Texts holding what str.splitlines() splits at: they must reach clf-export whole.
AWKWARD = ["refund\u2028please", "app\x85crash", "bug\x0creport", "late\u2029parcel", "card\x0bcharged"]


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_refused_outputs_fail_before_training_and_touch_nothing(
    tiny_models, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    model = ["--model", str(tiny_models["bert"]), "--max-steps", "1"]
    for args in (["--output", "mine"], ["--output", "mine", "--overwrite"]):
        out = one_line_error(CliRunner().invoke(main, [*model, *args]))
        assert "did not write (it holds thesis.tex)" in out
    for dot in (".", str(tmp_path), ".."):
        out = one_line_error(CliRunner().invoke(main, [*model, "--output", dot, "--overwrite"]))
        assert "current folder or one above it" in out
    with output_folder(tmp_path / "trained", "clf-train") as tmp:
        (tmp / "config.json").write_text("{}")
    out = one_line_error(CliRunner().invoke(main, ["compare", *model, "--output", "trained"]))
    assert "is the output of clf-train; pass --overwrite" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "trained"]  # no checkpoints, no temp
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_bad_input_paths_are_one_line(tiny_models, tmp_path: Path) -> None:
    model = ["--model", str(tiny_models["bert"]), "--output", str(tmp_path / "out")]
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\ncaf\xe9,a\nok,b\n".encode("latin-1"))
    cases = {
        str(tmp_path): "is a folder",
        str(tmp_path / "missing.csv"): "does not exist",
        str(latin1): "not valid UTF-8",
    }
    for data, message in cases.items():
        assert message in one_line_error(CliRunner().invoke(main, [*model, "--data", data]))


def test_awkward_texts_round_trip_train_to_export(tiny_models, tmp_path: Path) -> None:
    """validation.jsonl and clf_train.json carry texts, labels and the separator to clf-export."""
    from clf_export.cli import main as export_main

    rows = [(f"{AWKWARD[i % 5]} {i}", ["a|b", "a", "b"][i % 3]) for i in range(24)]
    data, val = tmp_path / "train.csv", tmp_path / "val.csv"
    for path, part in ((data, rows[:18]), (val, rows[18:])):
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("text", "label"), *part])
    out = tmp_path / "trained"
    args = ["--data", data, "--validation", val, "--label-separator", "|", "--output", out]
    args += ["--model", tiny_models["bert"], "--max-steps", "2", "--max-length", "16"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output

    saved = [row for _, row in read_jsonl(out / "validation.jsonl")]
    assert [r["text"] for r in saved] == [t for t, _ in rows[18:]]
    assert [r["label"] for r in saved] == [sorted(lab.split("|")) for _, lab in rows[18:]]
    handoff = read_handoff(out)
    assert handoff is not None and handoff.label_separator == "|" and handoff.task == "multi_label"
    assert handoff.labels == ("a", "b") and handoff.thresholds is not None and handoff.max_length == 16
    assert json.loads((out / MARKER_NAME).read_text())["tool"] == "clf-train"

    calibration = tmp_path / "texts.txt"  # plain text, one per line, as clf-run reads
    calibration.write_text("\n".join(t for t, _ in rows) + "\n", encoding="utf-8")
    art = tmp_path / "model"
    common = [str(out), "--output", str(art), "--max-accuracy-drop", "1"]
    result = CliRunner().invoke(
        export_main, [*common, "--quantize", "int8-static", "--calibration", str(calibration)]
    )
    assert result.exit_code == 0, result.output
    export_metrics = json.loads((art / "clf.json").read_text())["metrics"]["export"]
    assert export_metrics["validation_size"] == 6  # every saved row, none split apart
    assert export_metrics["quantization"]["calibration_samples"] == 24
    # A CSV validation file's multi-label cells are split at the separator training used.
    result = CliRunner().invoke(export_main, [*common, "--quantize", "none", "--validation", str(val)])
    assert result.exit_code == 0, result.output  # the re-run replaces its own previous output
    export_metrics = json.loads((art / "clf.json").read_text())["metrics"]["export"]
    assert export_metrics["validation"] == str(val) and export_metrics["validation_size"] == 6


def test_export_refuses_an_edited_handoff(tmp_path: Path) -> None:
    from clf_export.cli import main as export_main

    name = "clf_train.json"
    folder = tmp_path / "hf"
    tiny.build_model(folder, labels=("x", "y"))
    tiny.write_train_meta(folder, "single_label", False, 32)
    meta = json.loads((folder / name).read_text())
    (folder / name).write_text(json.dumps({**meta, "labels": ["y", "x"]}))
    out = one_line_error(CliRunner().invoke(export_main, [str(folder), "--output", str(tmp_path / "m")]))
    assert "labels in clf_train.json differ from config.json" in out
    (folder / name).write_text(json.dumps({**meta, "text_pair": "false"}))
    out = one_line_error(CliRunner().invoke(export_main, [str(folder), "--output", str(tmp_path / "m")]))
    assert "text_pair must be true or false" in out
