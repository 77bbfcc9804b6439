"""`clf-train` and `clf-train compare` through the real CLI on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from clf_train.cli import main


def test_train_cli_writes_report(tiny_models, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["--model", str(tiny_models["bert"]), "--max-steps", "6", "--lr", "1e-3"]
    )
    assert result.exit_code == 0, result.output
    assert "saved clf-trained" in result.output and "test: accuracy" in result.output
    metrics = json.loads((tmp_path / "clf-trained" / "metrics.json").read_text())
    assert metrics["summary"]["method"] == "lora"  # what `auto` means (README: how defaults were chosen)
    assert len(metrics["test"]["confusion_matrix"]) == 4


def test_train_cli_bad_column_is_one_line(tiny_models, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("body,category\nhello,a\nbye,b\n")
    result = CliRunner().invoke(main, ["--data", str(data), "--model", str(tiny_models["bert"])])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "no column 'text' (found: body, category)" in result.output


def test_compare_three_ways(tiny_models, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        main, ["compare", "--model", str(tiny_models["distilbert"]), "--max-steps", "4", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = (out / "compare.md").read_text()
    for method in ("none", "full", "lora"):
        assert f"| {method}" in text
    rows = [line for line in text.splitlines() if line.startswith("| full") or line.startswith("| lora")]
    full_params = int(rows[0].split("|")[-2].strip().replace(",", ""))
    lora_params = int(rows[1].split("|")[-2].strip().replace(",", ""))
    assert lora_params < full_params
