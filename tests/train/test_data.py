"""Reading training data: task detection, label order, and every bad-data error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clf_runtime.errors import InputError
from clf_train.data import detect_task, label_order, load_task_data


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **kw):
    args = dict(
        validation=None,
        text_column="text",
        label_column="label",
        pair_column=None,
        task="auto",
        separator=";",
        validation_split=0.25,
        seed=0,
    )
    args.update(kw)
    return load_task_data(path, **args)


CSV = "text,label\n" + "".join(f"good text {i},pos\nbad text {i},neg\n" for i in range(8))


def test_single_label_detected_and_stratified(tmp_path: Path) -> None:
    data = load(write(tmp_path / "d.csv", CSV))
    assert data.task == "single_label" and data.label_names == ("neg", "pos")
    assert sorted(data.validation.labels) == ["neg", "neg", "pos", "pos"]
    assert len(data.train) == 12


def test_detects_regression_and_multi_label(tmp_path: Path) -> None:
    assert detect_task(["1.5", "2", "0.25"], ";") == "regression"
    assert detect_task(["1", "2", "0"], ";") == "single_label"
    assert detect_task(["a;b", "c"], ";") == "multi_label"
    assert detect_task([["a"], ["b", "c"]], ";") == "multi_label"
    rows = [{"text": f"t{i}", "label": ["x", "y"][: 1 + i % 2]} for i in range(8)]
    path = write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in rows))
    data = load(path)
    assert data.task == "multi_label" and data.label_names == ("x", "y")


def test_label_order_is_numeric_for_integers() -> None:
    assert label_order({"10", "2", "1"}) == ("1", "2", "10")
    assert label_order({"b", "a", "C"}) == ("C", "a", "b")


def test_pairs_and_tsv(tmp_path: Path) -> None:
    text = "s1\ts2\tscore\n" + "".join(f"a {i}\tb {i}\t{i / 3:.2f}\n" for i in range(8))
    data = load(write(tmp_path / "p.tsv", text), text_column="s1", pair_column="s2", label_column="score")
    assert data.task == "regression" and data.text_pair
    assert data.train.inputs()[0][1].startswith("b ")


@pytest.mark.parametrize(
    ("content", "name", "kw", "match"),
    [
        ("", "e.csv", {}, "is empty"),
        ("text,label\n", "h.csv", {}, "no rows"),
        (CSV, "d.csv", {"label_column": "category"}, r"no column 'category' \(found: text, label\)"),
        (CSV, "d.csv", {"text_column": "body"}, "--text-column"),
        ("text,label\nhello,a\n,b\n  ,a\nok,b\n", "d.csv", {}, r"2 empty text\(s\).*rows 2, 3"),
        ("text,label\na,x\nb,x\nc,x\n", "d.csv", {}, "only 1 class"),
        ("text,label\na,1.5\nb,oops\n", "d.csv", {"task": "regression"}, "row 2: regression label 'oops'"),
        (b"text,label\ncaf\xe9,a\nb,b\n", "d.csv", {}, "not valid UTF-8"),
        ("{not json\n", "d.jsonl", {}, "cannot parse"),
        ("x", "d.xlsx", {}, "unsupported file type"),
    ],
)
def test_bad_data_errors(tmp_path: Path, content, name, kw, match) -> None:
    with pytest.raises(InputError, match=match):
        load(write(tmp_path / name, content), **kw)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load(tmp_path / "nope.csv")


def test_validation_label_unseen_in_training(tmp_path: Path) -> None:
    val = write(tmp_path / "v.csv", "text,label\nx,pos\ny,maybe\n")
    with pytest.raises(InputError, match="'maybe' never occur"):
        load(write(tmp_path / "d.csv", CSV), validation=val)


def test_sample_data_ships_and_loads() -> None:
    from clf_train.sample_data import SUPPORT_MULTILABEL, SUPPORT_PAIRS, SUPPORT_TEST, SUPPORT_TRAIN

    data = load(SUPPORT_TRAIN, validation=SUPPORT_TEST)
    assert len(data.label_names) == 4 and len(data.train) >= 150 and len(data.validation) >= 40
    assert load(SUPPORT_MULTILABEL).task == "multi_label"
    pairs = load(SUPPORT_PAIRS, text_column="sentence1", pair_column="sentence2", label_column="score")
    assert pairs.task == "regression"


def test_auto_method_and_task_recipes() -> None:
    from clf_train.config import AUTO, TrainConfig, resolve_method

    assert resolve_method("auto", 172) == "lora" and resolve_method("auto", 10_000) == "lora"
    assert resolve_method("full", 10_000) == "full"
    single = TrainConfig().resolved("single_label", 4000)
    multi = TrainConfig().resolved("multi_label", 4000)
    assert (single.method, single.lr, single.epochs, single.patience) == ("lora", 2e-3, 5.0, 2)
    assert (multi.lr, multi.epochs, multi.patience) == (1e-3, 10.0, 3)
    full = TrainConfig(method="full", epochs=3.0, patience=None).resolved("single_label", 100)
    assert (full.lr, full.epochs, full.patience) == (2e-4, 3.0, None)  # what the user set stays
    assert TrainConfig().patience == AUTO
