"""Long texts and calibration in training: windows end to end on tiny models, fitted temperatures."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import tiny
from click.testing import CliRunner

from clf_runtime.calibration import Calibration, task_ece
from clf_train import TrainConfig, train
from clf_train.calibrate import coverage, fit_platt, fit_temperature
from clf_train.cli import main


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_temperature_fit_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=(5000, 5)) * 2.0
    y = np.array([rng.choice(5, p=p) for p in softmax(true)])
    overconfident = true * 3.0  # a model three times too sure of itself
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(3.0, rel=0.08)
    before = task_ece(overconfident, y, "single_label")
    after = task_ece(Calibration("temperature", temperature=t).apply(overconfident), y, "single_label")
    assert before > 0.1 and after < 0.03 and after < before / 3


def test_platt_fit_recovers_known_slopes_and_intercepts() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6000, 2)) * 3.0
    a, b = np.array([0.5, 2.0]), np.array([-1.0, 0.5])
    y = (rng.random(x.shape) < 1 / (1 + np.exp(-(a * x + b)))).astype(float)
    slopes, intercepts = fit_platt(x, y)
    np.testing.assert_allclose(slopes, a, rtol=0.1)
    np.testing.assert_allclose(intercepts, b, atol=0.15)
    # Thresholds move with the calibration so that decisions stay the same.
    cal = Calibration("platt", slopes=slopes, intercepts=intercepts)
    raw_cut = np.array([0.3, 0.6])
    raw_decisions = 1 / (1 + np.exp(-x)) >= raw_cut
    cal_decisions = 1 / (1 + np.exp(-cal.apply(x))) >= cal.map_thresholds(raw_cut)
    assert (raw_decisions == cal_decisions).mean() > 0.999


def test_coverage_table_by_hand() -> None:
    probs = np.log(np.array([[0.96, 0.04], [0.75, 0.25], [0.55, 0.45], [0.3, 0.7]]))
    rows = coverage(probs, np.array([0, 1, 0, 1]), levels=(0.5, 0.7, 0.9))
    assert rows[0] == {"min_score": 0.5, "coverage": 1.0, "accuracy": 0.75}
    assert rows[1]["coverage"] == 0.75 and rows[1]["accuracy"] == pytest.approx(2 / 3)
    assert rows[2] == {"min_score": 0.9, "coverage": 0.25, "accuracy": 1.0}


def long_data(path: Path, n: int, seed: int) -> Path:
    """Two classes whose deciding word comes late in a long text, past the first window."""
    rng = random.Random(seed)
    filler = [w for w in tiny.WORDS if w not in ("refund", "crash")]
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(n):
            label = ("refund", "crash")[i % 2]
            words = [rng.choice(filler) for _ in range(rng.randint(5, 60))] + [label] * 3
            f.write(f"{' '.join(words)},{label}\n")
    return path


def cfg(model: Path, out: Path, data: Path, validation: Path, **kw) -> TrainConfig:
    from clf_runtime.long_text import LongText

    base = dict(
        model=str(model),
        output=out,
        data=data,
        validation=validation,
        max_steps=6,
        batch_size=16,
        max_length=16,
        learning_rate=1e-3,
        patience=None,
        progress=False,
        seed=1,
        method="full",
        long_text=LongText("windows", stride=2, max_windows=4),
    )
    base.update(kw)
    return TrainConfig(**base)


def test_windows_training_end_to_end(tiny_models, tmp_path: Path, monkeypatch) -> None:
    import clf_train.calibrate as calibrate
    from clf_train.data import load_task_data
    from clf_train.model import load_model
    from clf_train.objective import EncodedSplit
    from clf_train.reference import forward_inputs

    monkeypatch.setattr(calibrate, "MIN_ROWS", 0)  # 12 validation texts: fit anyway, to test the path

    train_csv = long_data(tmp_path / "train.csv", 40, 0)
    val_csv = long_data(tmp_path / "val.csv", 12, 1)
    config = cfg(tiny_models["bert"], tmp_path / "out", train_csv, val_csv)
    data = load_task_data(train_csv, val_csv, "text", "label", None, "auto", ";", 0.1, 0)
    model, tok = load_model(config.model, data.task, data.label_names)
    windows = [
        EncodedSplit(split, tok, data.task, data.label_names, 16, forward_inputs(model), config.long_text)
        for split in (data.train, data.validation)
    ]
    # Every window of a long text is a training row (at most 4 per text); texts are told apart by starts.
    assert 40 < len(windows[0]) <= 40 * 4 and 12 < len(windows[1]) <= 12 * 4
    assert len(windows[1].starts) == 12 + 1

    result = train(config)
    assert len(result.validation_logits) == 12  # evaluation still counts texts
    assert result.metrics["accuracy"] * 12 == pytest.approx(round(result.metrics["accuracy"] * 12))
    out = tmp_path / "out"
    meta = json.loads((out / "clf_train.json").read_text())
    resolved = {"strategy": "windows", "stride": 2, "max_windows": 4, "aggregate": "mean", "head": 3}
    assert meta["long_text"] == resolved
    assert meta["calibration"]["method"] == "temperature"
    assert 0.25 <= meta["calibration"]["temperature"] <= 4.0  # the fit's bounds (clf_train.calibrate)
    metrics = json.loads((out / "metrics.json").read_text())
    cal = metrics["calibration"]["validation"]
    assert {"ece_before", "ece_after", "coverage"} <= set(cal)
    assert cal["ece_after"] <= cal["ece_before"] + 1e-9  # fitted on this split: never worse
    assert [row["min_score"] for row in cal["coverage"]] == [0.5, 0.7, 0.8, 0.9, 0.95]
    report = (out / "report.md").read_text()
    assert "## Calibration (validation)" in report and "| min score | kept |" in report
    assert (out / "reliability.png").stat().st_size > 1000


def test_windowed_model_exports_and_runtime_agrees_with_pytorch(
    tiny_models, tmp_path: Path, monkeypatch
) -> None:
    import clf_train.calibrate as calibrate

    monkeypatch.setattr(calibrate, "MIN_ROWS", 0)
    from clf_export import ExportConfig, export
    from clf_runtime import TextClassifier
    from clf_runtime.long_text import LongText
    from clf_train.reference import folder_logits

    train_csv = long_data(tmp_path / "train.csv", 24, 0)
    val_csv = long_data(tmp_path / "val.jsonl.csv", 10, 1)
    train(cfg(tiny_models["bert"], tmp_path / "hf", train_csv, val_csv, max_steps=2))
    result = export(ExportConfig(model_dir=tmp_path / "hf", output=tmp_path / "art", latency_runs=2))
    manifest = result.manifest
    assert manifest.long_text == LongText("windows", stride=2, max_windows=4, aggregate="mean", head=3)
    assert manifest.calibration is not None and manifest.calibration.method == "temperature"
    assert result.checks["fp32"].max_abs_diff < 1e-4  # the gate ran PyTorch on the same windows
    assert result.checks["fp32"].ece is not None
    texts = [line.split(",")[0] for line in val_csv.read_text().splitlines()[1:]]
    reference = folder_logits(tmp_path / "hf", texts, 16, long_text=manifest.long_text)
    fp32 = TextClassifier.load(tmp_path / "art", provider="cpu", precision="fp32")
    np.testing.assert_allclose(fp32.logits(texts), reference, atol=1e-4, rtol=0)
    truncated = folder_logits(tmp_path / "hf", texts, 16)
    assert np.abs(reference - truncated).max() > 1e-3  # the windows did change something


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--long-text", "windows", "--stride", "14"], 1, "stride 14 must be smaller than the window's 14"),
        (["--long-text", "windows", "--max-windows", "0"], 2, "--max-windows"),
        (["--long-text", "chunks"], 2, "--long-text"),
    ],
)
def test_bad_long_text_values_are_one_line_errors(tiny_models, tmp_path: Path, args, code, message) -> None:
    result = CliRunner().invoke(
        main,
        ["--model", str(tiny_models["bert"]), "--max-length", "16", "--output", str(tmp_path / "o"), *args],
    )
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    if code == 1:
        assert result.output.strip().count("\n") == 0
    assert not (tmp_path / "o").exists()


def test_windows_equal_truncate_on_short_training_texts(tiny_models) -> None:
    from clf_runtime.long_text import LongText
    from clf_train.data import Split, load_task_data
    from clf_train.model import load_model
    from clf_train.objective import EncodedSplit
    from clf_train.reference import forward_inputs, logits
    from clf_train.sample_data import SUPPORT_TRAIN

    data = load_task_data(SUPPORT_TRAIN, None, "text", "label", None, "auto", ";", 0.1, 0)
    model, tok = load_model(str(tiny_models["bert"]), data.task, data.label_names)
    fits = [i for i, t in enumerate(data.train.texts) if len(tok(t)["input_ids"]) < 64]
    assert len(fits) > 50
    short = Split([data.train.texts[i] for i in fits], None, [data.train.labels[i] for i in fits])
    keep = forward_inputs(model)
    plain = EncodedSplit(short, tok, data.task, data.label_names, 64, keep)
    windows = EncodedSplit(short, tok, data.task, data.label_names, 64, keep, LongText("windows"))
    assert windows.starts is None and windows.features == plain.features
    np.testing.assert_array_equal(windows.labels, plain.labels)
    np.testing.assert_allclose(
        logits(model, tok, short.texts, max_length=64, long_text=LongText("windows")),
        logits(model, tok, short.texts, max_length=64),
        atol=1e-5,
    )


def test_no_calibration_on_few_validation_rows_and_bounded_temperature() -> None:
    from clf_train.calibrate import MIN_ROWS, fit

    separated = np.array([[9.0, -9.0], [-9.0, 9.0]] * 10)
    assert fit(separated, np.array([0, 1] * 10), "single_label") is None  # 20 rows < MIN_ROWS
    many = np.tile(separated, (MIN_ROWS, 1))
    t = fit(many, np.tile(np.array([0, 1] * 10), MIN_ROWS), "single_label").temperature
    assert 0.2499 < t < 1.0  # perfectly separated rows push T down, but not below its bound (1/4)


@pytest.mark.parametrize("arch", ["bert", "roberta"])  # WordPiece, and byte-level BPE
@pytest.mark.parametrize("strategy", ["truncate", "head-tail", "windows"])
def test_training_texts_are_cut_to_what_the_model_reads(
    tiny_models, arch: str, strategy: str, monkeypatch
) -> None:
    from transformers import AutoTokenizer

    from clf_runtime.long_text import LongText, LongTextEncoder
    from clf_train.long_text import encode_split

    tok = AutoTokenizer.from_pretrained(tiny_models[arch])
    rng = random.Random(5)
    words = [*tiny.WORDS, "naïve", "中文", "🙂", "!!", "unbelievably"]
    texts = [
        " ".join(rng.choice(words) for _ in range(20_000)),
        "  \n ".join(rng.choice(words) for _ in range(20_000)),
        " " * 5000 + " ".join(rng.choice(words) for _ in range(5_000)) + "\t" * 5000,
        "short text",
    ]
    config = LongText(strategy, max_windows=3)
    cut = encode_split(tok, texts, None, 16, config)
    assert cut.too_long == 3 and len(cut.encodings) <= 3 * 3 + 1  # windows: at most 3 rows per text
    if strategy == "windows":
        return  # past 16 x 3 windows, windows are spread over the start and the end (README)
    monkeypatch.setattr(LongTextEncoder, "cut", lambda self, value: value)
    whole = encode_split(tok, texts, None, 16, config)
    assert [e.ids for e in cut.encodings] == [e.ids for e in whole.encodings]
