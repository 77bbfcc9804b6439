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

    assert resolve_method("auto") == "lora"
    assert resolve_method("full") == "full"
    single = TrainConfig().resolved("single_label")
    multi = TrainConfig().resolved("multi_label")
    assert (single.method, single.lr, single.epochs, single.patience) == ("lora", 2e-3, 5.0, 2)
    assert (multi.lr, multi.epochs, multi.patience) == (1e-3, 10.0, 3)
    full = TrainConfig(method="full", epochs=3.0, patience=None).resolved("single_label")
    assert (full.lr, full.epochs, full.patience) == (2e-4, 3.0, None)  # what the user set stays
    assert TrainConfig().patience == AUTO


# --- labels checked before any training: null, NaN, inf, mixed types, repeated columns, thin guesses


def rows_of(labels: list, texts: list | None = None) -> list[dict]:
    return [
        {"text": (texts or [])[i] if texts else f"text number {i}", "label": v} for i, v in enumerate(labels)
    ]


def write_table(path: Path, rows: list[dict], names: list[str] | None = None) -> Path:
    """`rows` as Parquet (pyarrow infers types; `names` may repeat a column), JSONL or CSV."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = [pa.array([r[k] for r in rows]) for k in rows[0]]
        pq.write_table(pa.Table.from_arrays(columns, names=names or list(rows[0])), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        lines = [sep.join(names or list(rows[0]))] + [sep.join(str(v) for v in r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


PAIRS = ["pos", "neg"] * 10  # 20 clean single labels


@pytest.mark.parametrize(
    ("name", "labels", "words"),
    [
        ("nulls.parquet", [*PAIRS[:13], None, *PAIRS[14:]], ["missing label", "data row 14", "'label'"]),
        ("int-null.parquet", [*range(5), None, *range(14)], ["missing label", "data row 6"]),
        ("nan.parquet", [i / 3 for i in range(17)] + [float("nan"), 1.5, 2.5], ["missing", "data row 18"]),
        (
            "inf.parquet",
            [i / 3 for i in range(18)] + [float("inf"), 0.5],
            ["not a finite number", "data row 19"],
        ),
        ("null.jsonl", [*PAIRS[:7], None, *PAIRS[8:]], ["missing label", "data row 8"]),
        ("nan.csv", [*PAIRS[:4], "nan", *PAIRS[5:]], ["'nan'", "not a finite number", "data row 5"]),
        ("inf.tsv", [f"{i / 7:.3f}" for i in range(19)] + ["-Infinity"], ["'-Infinity'", "data row 20"]),
        ("huge.csv", [*range(9), "1e400", *range(10)], ["'1e400'", "data row 10"]),
        ("mixed.jsonl", [*PAIRS[:17], 1, 2, "pos"], ["mixes label types", "numbers (data rows 18, 19)"]),
        ("lists.jsonl", [["a"], ["b", "a"]] * 9 + ["a", ["b"]], ["mixes", "text (data row 19)"]),
        ("bools.jsonl", [True, False] * 9 + ["pos", "neg"], ["mixes", "true/false"]),
        ("list-null.jsonl", [["a"], ["b"]] * 9 + [["a", None], ["b"]], ["data row 19", "null"]),
        ("stray.csv", [f"{i * 0.37:.2f}" for i in range(39)] + ["n/a"], ["data row 40", "'n/a'", "--task"]),
        ("stray.jsonl", [i * 0.37 for i in range(27)] + ["unknown", 0.5, "?"], ["rows 28, 30", "mixes"]),
        (
            "gap.csv",
            [f"{i * 0.37:.2f}" for i in range(12)] + [""] + ["0.5"] * 7,
            ["empty label", "data row 13"],
        ),
        ("nan-word.csv", ["pos", "neg", "NaN", "pos", "neg", "pos"] * 3, ["'NaN'", "data rows 3, 9, 15"]),
    ],
)
def test_broken_labels_are_one_line_errors(tmp_path: Path, name: str, labels: list, words: list) -> None:
    path = write_table(tmp_path / name, rows_of(labels))
    with pytest.raises(InputError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "'label'" in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_a_column_named_twice_is_refused(tmp_path: Path, suffix: str) -> None:
    rows = [{"text": f"t {i}", "a": PAIRS[i], "b": PAIRS[-i - 1]} for i in range(20)]
    path = write_table(tmp_path / f"d{suffix}", rows, names=["text", "label", "label"])
    with pytest.raises(InputError, match=r"column 'label' appears 2 times \(columns 2, 3\)") as info:
        load(path)
    assert str(path) in str(info.value)
    # A repeated column that is not read is no problem.
    path = write_table(tmp_path / f"e{suffix}", rows, names=["text", "label", "text"])
    with pytest.raises(InputError, match="'text' appears 2 times"):
        load(path)
    assert load(path, text_column="label", label_column="label").task == "single_label"


def test_a_repeated_key_in_a_json_line_is_refused(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"t {i}", "label": v}) for i, v in enumerate(PAIRS)]
    lines[4] = '{"text": "t 4", "label": "pos", "label": "neg"}'
    path = write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"d.jsonl, data row 5: column 'label' appears 2 times"):
        load(path)
    lines[4] = '{"text": "t 4", "label": "pos", "meta": {"label": 1, "label": 2}}'  # nested: not a column
    assert load(write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")).task == "single_label"


def test_task_guess_on_a_handful_of_labels_says_what_it_decided(tmp_path: Path, caplog) -> None:
    whole = [str(i % 3) for i in range(38)] + ["1.5", "2"]
    with caplog.at_level("WARNING", logger="clf_train"):
        data = load(write_table(tmp_path / "r.csv", rows_of(whole)))
    assert data.task == "regression"
    (note,) = data.notes
    assert "r.csv" in note and "'label'" in note and "regression" in note and "data row 39" in note
    assert "--task single-label" in note and note in caplog.text
    forced = load(write_table(tmp_path / "r.csv", rows_of(whole)), task="single-label")
    assert forced.task == "single_label" and forced.notes == ()

    split = ["pos", "neg"] * 19 + ["pos;neg", "neg"]
    data = load(write_table(tmp_path / "m.csv", rows_of(split)))
    assert data.task == "multi_label"
    (note,) = data.notes
    assert "multi-label" in note and "data row 39" in note and "--task single-label" in note
    assert load(write_table(tmp_path / "m.csv", rows_of(split)), task="single-label").label_names == (
        "neg",
        "pos",
        "pos;neg",
    )
    # A guess the labels agree on says nothing.
    assert load(write_table(tmp_path / "c.csv", rows_of([f"{i / 3:.2f}" for i in range(20)]))).notes == ()
    stray = [f"{0.25 + i % 4:.2f}" for i in range(38)] + ["n/a", "n/a"]
    with pytest.raises(InputError, match=r"s.csv, column 'label': .* 2 are not numbers \(data rows 39, 40"):
        load(write_table(tmp_path / "s.csv", rows_of(stray)))
    forced = load(write_table(tmp_path / "s.csv", rows_of(stray)), task="single-label")
    assert forced.task == "single_label" and "n/a" in forced.label_names


def test_parquet_lists_are_multi_label_and_checked_in_the_validation_file(tmp_path: Path) -> None:
    data = load(write_table(tmp_path / "m.parquet", rows_of([["x"], ["y", "x"]] * 10)))
    assert data.task == "multi_label" and data.label_names == ("x", "y")
    train = write_table(tmp_path / "d.csv", rows_of(PAIRS))
    val = write_table(tmp_path / "v.parquet", rows_of(["pos", None, "neg"]))
    with pytest.raises(InputError, match=r"v.parquet, column 'label': 1 missing label.*data row 2"):
        load(train, validation=val)


def test_clf_train_cli_refuses_broken_labels_before_training(tiny_models, tmp_path: Path) -> None:
    import subprocess
    import sys

    import clf_runtime
    import clf_train

    src = [str(Path(m.__file__).resolve().parents[1]) for m in (clf_runtime, clf_train)]
    env = {"PYTHONPATH": ":".join(src), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    data = write_table(tmp_path / "d.parquet", rows_of([*PAIRS[:5], None, *PAIRS[6:]]))

    def clf_train_cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "clf_train.cli", *args, "--output", str(tmp_path / "out")]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    done = clf_train_cli("--data", str(data), "--model", str(tiny_models["bert"]))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "d.parquet, column 'label': 1 missing label(s) (null or NaN) at data row 6" in done.stderr
    assert not (tmp_path / "out").exists()
    # The note about a thin task guess comes before anything else happens (here: a missing model).
    data = write_table(tmp_path / "r.csv", rows_of([str(i % 3) for i in range(39)] + ["0.5"]))
    done = clf_train_cli("--data", str(data), "--model", str(tmp_path / "no-model"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("note: ") and "--task single-label" in lines[0], lines
    assert "no-model" in lines[1]
