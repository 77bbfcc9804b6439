"""`clf-eval` on the fixture artifacts: numbers checked against TextClassifier by hand (and
scikit-learn in the full install), every bad input a one-line message, --compare, --report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clf_runtime import TextClassifier
from clf_runtime.calibration import ece
from clf_runtime.cli.eval import main

from .conftest import edit_manifest, fixture_path, runtime_env

BERT = str(fixture_path("tiny-bert"))
MULTI = str(fixture_path("tiny-multi"))
PAIR = str(fixture_path("tiny-pair"))
LABELS = ("negative", "neutral", "positive")
WORDS = [
    "refund",
    "parcel",
    "crash",
    "login",
    "great",
    "service",
    "card",
    "charged",
    "twice",
    "order",
    "email",
    "late",
    "thanks",
    "app",
]
# 60 texts of 1 to 12 words, labels in turn: enough rows for every class to be true and predicted.
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 12)) for i in range(60)]
TRUTH = [LABELS[i % 3] for i in range(60)]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_csv(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def single(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "test.csv", ["text", "category"], [list(r) for r in zip(TEXTS, TRUTH)])


def report_of(*args: str) -> dict:
    result = run(*args, "--json", "--slowest", "2")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- single-label -------------------------------------------------------------------------------


def test_accuracy_and_table_equal_textclassifier_by_hand(single: Path) -> None:
    report = report_of(str(single), "--model", BERT, "--label-column", "category")
    predicted = [p.label for p in TextClassifier.load(BERT, provider="cpu").predict(TEXTS)]
    assert len(set(predicted)) > 1  # the test means something only if the model is not constant
    assert report["rows"] == {"total": 60, "scored": 60, "set_aside": {}, "unknown_labels": {}}
    assert report["metrics"]["accuracy"] == pytest.approx(np.mean([p == t for p, t in zip(predicted, TRUTH)]))
    for label in LABELS:
        tp = sum(p == t == label for p, t in zip(predicted, TRUTH))
        n_pred, n_true = predicted.count(label), TRUTH.count(label)
        row = report["metrics"]["per_class"].get(label)
        if n_pred or n_true:
            assert row["support"] == n_true
            assert row["precision"] == pytest.approx(tp / n_pred if n_pred else 0.0)
            assert row["recall"] == pytest.approx(tp / n_true)
    matrix = np.array(report["metrics"]["confusion_matrix"])
    assert matrix.sum() == 60 and np.trace(matrix) == sum(p == t for p, t in zip(predicted, TRUTH))
    confused = {(c["true"], c["predicted"]): c["count"] for c in report["confused"]}
    for (t, p), n in confused.items():
        assert n == sum(a == t and b == p for a, b in zip(TRUTH, predicted)) and t != p


@pytest.mark.full
def test_per_class_table_matches_sklearn_classification_report(single: Path) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    result = run(str(single), "--model", BERT, "--label-column", "category", "--slowest", "0")
    assert result.exit_code == 0, result.output
    predicted = [p.label for p in TextClassifier.load(BERT, provider="cpu").predict(TEXTS)]
    expected = sk.classification_report(TRUTH, predicted, output_dict=True, zero_division=0)
    lines = result.stdout.splitlines()
    start = lines.index("Per class:") + 2
    printed = {}
    for line in lines[start:]:
        if not line.strip():
            break
        name, p, r, f, support = line.split()
        printed[name] = (p, r, f, int(support))
    assert set(printed) == set(expected) - {"accuracy", "macro avg", "weighted avg"}
    for name, (p, r, f, support) in printed.items():
        want = expected[name]
        assert (p, r, f) == tuple(f"{want[k]:.4f}" for k in ("precision", "recall", "f1-score"))
        assert support == want["support"]
    report = report_of(str(single), "--model", BERT, "--label-column", "category")
    for avg in ("macro", "weighted"):
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert report["metrics"][f"{ours}_{avg}"] == pytest.approx(expected[f"{avg} avg"][theirs])
    assert f"accuracy            {expected['accuracy']:.4f}" in result.stdout


def test_text_output_has_each_section(single: Path) -> None:
    result = run(str(single), "--model", BERT, "--label-column", "category", "--min-score", "0.45")
    assert result.exit_code == 0, result.output
    for title in ("Metrics:", "Per class:", "Reliability (ECE", "Coverage and accuracy", "Slowest inputs"):
        assert title in result.stdout
    assert "0.45 (asked)" in result.stdout


def test_coverage_at_min_score_by_hand(single: Path) -> None:
    report = report_of(str(single), "--model", BERT, "--label-column", "category", "--min-score", "0.45")
    preds = TextClassifier.load(BERT, provider="cpu").predict(TEXTS)
    kept = [p.label == t for p, t in zip(preds, TRUTH) if p.score >= 0.45]
    (asked,) = [c for c in report["coverage"] if c["asked"]]
    assert asked["min_score"] == 0.45 and asked["rows"] == len(kept)
    assert asked["coverage"] == pytest.approx(len(kept) / 60)
    assert asked["accuracy"] == (pytest.approx(np.mean(kept)) if kept else None)


def test_calibrated_model_reports_ece_of_its_calibrated_scores(single: Path, artifact_copy) -> None:
    folder = artifact_copy("tiny-bert")
    edit_manifest(folder, calibration={"method": "temperature", "temperature": 0.5})
    report = report_of(str(single), "--model", str(folder), "--label-column", "category")
    preds = TextClassifier.load(folder, provider="cpu").predict(TEXTS)
    top = np.array([p.score for p in preds])
    correct = np.array([p.label == t for p, t in zip(preds, TRUTH)])
    assert report["model"]["calibration"] == "temperature"
    assert report["calibration"]["calibrated"] is True
    assert report["calibration"]["ece"] == pytest.approx(ece(top, correct))
    assert sum(b["count"] for b in report["calibration"]["reliability"]) == 60


def test_tsv_jsonl_and_parquet_give_the_same_report(tmp_path: Path, single: Path) -> None:
    tsv = write_csv(tmp_path / "t.tsv", ["text", "category"], [list(r) for r in zip(TEXTS, TRUTH)], "\t")
    jsonl = write_jsonl(tmp_path / "t.jsonl", [{"text": t, "category": y} for t, y in zip(TEXTS, TRUTH)])
    files = [single, tsv, jsonl]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": TEXTS, "category": TRUTH}), tmp_path / "t.parquet")
        files.append(tmp_path / "t.parquet")
    except ImportError:
        pass
    args = ("--model", BERT, "--label-column", "category", "--slowest", "0")
    metrics = [report_of(str(f), *args)["metrics"] for f in files]
    assert all(m == metrics[0] for m in metrics[1:])


# --- rows that cannot be scored -----------------------------------------------------------------


def bad_rows(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(
        "text,label\n"
        "where is my refund,negative\n"
        "great service,positive\n"
        "no label here,\n"  # row 3: empty label
        "a new kind,angry\n"  # row 4: unknown
        "another,angry\n"  # row 5: unknown
        ",neutral\n"  # row 6: empty text
        "too,many,fields\n"  # row 7
        "control,bad\x07label\n"  # row 8: malformed
        "card,neutral\n",
        encoding="utf-8",
    )
    return path


def test_bad_rows_are_counted_never_dropped_silently(tmp_path: Path) -> None:
    result = run(str(bad_rows(tmp_path)), "--model", BERT, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = report["rows"]
    assert (rows["total"], rows["scored"]) == (9, 3)
    aside = {reason: v["rows"] for reason, v in rows["set_aside"].items()}
    assert aside == {
        "empty label": [3],
        "label unknown to the model": [4, 5],
        "empty text": [6],
        "wrong number of fields": [7],
        "malformed label": [8],
    }
    assert rows["unknown_labels"] == {"angry": 2}
    assert (
        sum(report["metrics"]["per_class"][label]["support"] for label in report["metrics"]["per_class"]) == 3
    )
    assert "rows set aside, not scored" in result.stderr
    text = run(str(bad_rows(tmp_path)), "--model", BERT).stdout
    assert "set aside: 2 rows: label unknown to the model (data rows 4, 5)" in text
    assert "'angry' x2" in text


def test_strict_makes_bad_rows_one_error(tmp_path: Path) -> None:
    result = run(str(bad_rows(tmp_path)), "--model", BERT, "--strict")
    one_line_error(
        result, "2 rows with a label unknown to the model ('angry')", "1 row with an empty label", "--strict"
    )


@pytest.mark.parametrize(
    ("content", "name", "args", "needles"),
    [
        (None, "missing.csv", (), ("does not exist",)),
        ("", "empty.csv", (), ("is empty",)),
        ("text,label\n", "header.csv", (), ("no data rows",)),
        ("a\n", "data.xlsx", (), ("unsupported file type '.xlsx'",)),
        (
            "body,label\nhi,negative\n",
            "cols.csv",
            (),
            ("no column 'text'", "found: body, label", "--text-column"),
        ),
        (
            "text,label\nhi,negative\n",
            "lab.csv",
            ("--label-column", "y"),
            ("no column 'y'", "--label-column"),
        ),
        ("text,label\nhi,\n", "none.csv", (), ("no row can be scored", "1 row with an empty label")),
        ('{"text": "hi", "label": "negative"}\n{oops\n', "bad.jsonl", (), ("line 2: not valid JSON",)),
        (
            "text,label\nhi,negative\n",
            "pair.csv",
            ("--text-pair-column", "x"),
            ("leave out --text-pair-column",),
        ),
        ("text,label\nhi,negative\n", "ms.csv", ("--model", MULTI, "--min-score", "0.5"), ("single-label",)),
        (b"text,label\n\xff\xfe,negative\n", "latin.csv", (), ("not valid UTF-8",)),
        (
            "text,label\nhi,negative\n",
            "nomodel.csv",
            ("--model", "/nonexistent/model"),
            ("/nonexistent/model",),
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, content, name: str, args: tuple, needles: tuple) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    model = () if "--model" in args else ("--model", BERT)
    one_line_error(run(str(path), *model, *args), *needles)


def test_folder_as_test_file_and_option_misuse(tmp_path: Path, single: Path) -> None:
    one_line_error(run(str(tmp_path), "--model", BERT), "is a folder")
    result = run(str(single), "--model", BERT, "--compare-precision", "fp32")
    assert result.exit_code == 2 and "--compare-precision needs --compare" in result.output
    one_line_error(run(str(single), "--model", BERT, "--compare", MULTI), "compare two models of one task")


def test_pair_model_needs_the_pair_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", ["text", "label"], [["a", "0.5"]])
    one_line_error(run(str(path), "--model", PAIR), "--text-pair-column")


# --- multi-label and regression -----------------------------------------------------------------


def test_multi_label_metrics_by_hand(tmp_path: Path) -> None:
    names = ("billing", "delivery", "bug", "praise")
    truth = [sorted({names[i % 4], names[(i * 3 + 1) % 4]}) for i in range(40)]
    rows = [{"text": TEXTS[i], "label": truth[i]} for i in range(40)]
    rows.append({"text": "nothing applies", "label": []})  # an explicit empty set is scored
    rows.append({"text": "semicolons", "label": "bug;praise"})
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    report = report_of(str(path), "--model", MULTI)
    truth = [set(r["label"]) if isinstance(r["label"], list) else {"bug", "praise"} for r in rows]
    preds = [
        set(p.labels) for p in TextClassifier.load(MULTI, provider="cpu").predict([r["text"] for r in rows])
    ]
    tp = sum(len(t & p) for t, p in zip(truth, preds))
    fp = sum(len(p - t) for t, p in zip(truth, preds))
    fn = sum(len(t - p) for t, p in zip(truth, preds))
    assert report["rows"]["scored"] == 42
    assert report["metrics"]["f1_micro"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert report["metrics"]["subset_accuracy"] == pytest.approx(
        np.mean([t == p for t, p in zip(truth, preds)])
    )
    assert report["metrics"]["per_label"]["bug"]["support"] == sum("bug" in t for t in truth)


def test_regression_metrics_by_hand(tmp_path: Path) -> None:
    rows = [[TEXTS[i], TEXTS[-i - 1], f"{(i % 5) / 4:.2f}"] for i in range(30)]
    path = write_csv(tmp_path / "p.tsv", ["a", "b", "score"], rows, "\t")
    args = ("--model", PAIR, "--text-column", "a", "--text-pair-column", "b", "--label-column", "score")
    report = report_of(str(path), *args)
    y = np.array([float(r[2]) for r in rows])
    pred = np.array(
        [p.value for p in TextClassifier.load(PAIR, provider="cpu").predict([(r[0], r[1]) for r in rows])]
    )
    assert report["metrics"]["mse"] == pytest.approx(np.mean((pred - y) ** 2))
    assert report["metrics"]["pearson"] == pytest.approx(np.corrcoef(pred, y)[0, 1])
    assert report["largest_errors"][0]["row"] == int(np.argmax(np.abs(pred - y))) + 1
    bad = write_csv(tmp_path / "bad.tsv", ["a", "b", "score"], [["x", "y", "high"], *rows], "\t")
    assert report_of(str(bad), *args)["rows"]["set_aside"]["malformed label"]["rows"] == [1]


# --- compare --------------------------------------------------------------------------------------


def test_compare_int8_with_fp32_lists_the_rows_that_differ(single: Path) -> None:
    report = report_of(
        str(single), "--model", BERT, "--precision", "int8", "--label-column", "category",
        "--compare", BERT, "--compare-precision", "fp32",
    )  # fmt: skip
    a = [p.label for p in TextClassifier.load(BERT, provider="cpu", precision="int8").predict(TEXTS)]
    b = [p.label for p in TextClassifier.load(BERT, provider="cpu", precision="fp32").predict(TEXTS)]
    c = report["compare"]
    assert (report["model"]["precision"], c["model"]["precision"]) == ("int8", "fp32")
    assert [d["row"] for d in c["differing"]["rows"]] == [i + 1 for i in range(60) if a[i] != b[i]]
    assert c["metrics"]["accuracy"] == pytest.approx(np.mean([x == t for x, t in zip(b, TRUTH)]))


def test_compare_lists_differing_rows_with_mcnemar_and_bootstrap(single: Path, artifact_copy) -> None:
    # The same model with its first and last labels swapped: it answers differently wherever it
    # predicts one of those two, so the rows that differ and the test's counts are known.
    other = artifact_copy("tiny-bert")
    edit_manifest(other, labels=["positive", "neutral", "negative"])
    report = report_of(
        str(single), "--model", BERT, "--label-column", "category", "--compare", str(other), "--show", "100"
    )
    a = [p.label for p in TextClassifier.load(BERT, provider="cpu").predict(TEXTS)]
    b = [p.label for p in TextClassifier.load(other, provider="cpu").predict(TEXTS)]
    c = report["compare"]
    differ = [i for i in range(60) if a[i] != b[i]]
    assert differ and c["differing"]["count"] == len(differ)
    assert [(d["row"], d["a"], d["b"], d["truth"]) for d in c["differing"]["rows"]] == [
        (i + 1, a[i], b[i], TRUTH[i]) for i in differ
    ]
    only_a = sum(a[i] == TRUTH[i] != b[i] for i in range(60))
    only_b = sum(b[i] == TRUTH[i] != a[i] for i in range(60))
    assert (c["mcnemar"]["only_a_right"], c["mcnemar"]["only_b_right"]) == (only_a, only_b)
    assert 0 < c["mcnemar"]["p_value"] <= 1
    bs = c["bootstrap"]
    assert bs["metric"] == "accuracy" and bs["difference"] == pytest.approx((only_b - only_a) / 60)
    assert bs["low"] <= bs["difference"] <= bs["high"]
    text = run(str(single), "--model", BERT, "--label-column", "category", "--compare", str(other)).stdout
    assert f"rows whose answer differs: {len(differ)}" in text and "McNemar's exact test: p = " in text


# --- report folder --------------------------------------------------------------------------------


@pytest.mark.full
def test_report_folder_has_markdown_and_plots(tmp_path: Path, single: Path) -> None:
    pytest.importorskip("matplotlib")
    dest = tmp_path / "eval-report"
    result = run(str(single), "--model", BERT, "--label-column", "category", "--report", str(dest))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in dest.iterdir())
    assert names == [
        ".clf-output.json",
        "confusion_matrix.png",
        "reliability.png",
        "report.json",
        "report.md",
    ]
    assert (dest / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    md = (dest / "report.md").read_text(encoding="utf-8")
    assert "## Confusion matrix" in md and "![reliability](reliability.png)" in md
    assert json.loads((dest / "report.json").read_text())["rows"]["scored"] == 60
    again = run(str(single), "--model", BERT, "--label-column", "category", "--report", str(dest))
    assert again.exit_code == 0, again.output  # its own earlier report is replaced


def test_report_never_replaces_a_folder_it_did_not_write(tmp_path: Path, single: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me", encoding="utf-8")
    one_line_error(run(str(single), "--model", BERT, "--report", str(dest)), "did not write")
    assert (dest / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_report_without_matplotlib_says_which_extra(tmp_path: Path, single: Path) -> None:
    code = (
        "import sys\nsys.modules['matplotlib'] = None\n"
        "from clf_runtime.cli.eval import main\n"
        f"main([{str(single)!r}, '--model', {BERT!r}, '--label-column', 'category', "
        f"'--report', {str(tmp_path / 'r')!r}])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=runtime_env()
    )
    assert out.returncode == 1
    assert 'pip install "clf-runtime[report]"' in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".tmp-*"))


def test_runs_as_python_dash_m(single: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "clf_runtime.cli.eval",
            str(single),
            "--model",
            BERT,
            "--label-column",
            "category",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=runtime_env(),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("test file: ") and "accuracy" in out.stdout


def test_long_text_strategy_is_applied_as_clf_run_applies_it(tmp_path: Path) -> None:
    long = [" ".join([TEXTS[i]] * 20) for i in range(20)]  # past the fixture's 32 tokens
    path = write_csv(tmp_path / "long.csv", ["text", "label"], [[t, TRUTH[i]] for i, t in enumerate(long)])
    report = report_of(str(path), "--model", BERT, "--long-text", "windows")
    clf = TextClassifier.load(BERT, provider="cpu")
    preds = clf.predict(long, long_text="windows")
    assert report["model"]["long_text"] == "windows"
    assert report["inputs_too_long"] == clf.inputs_too_long > 10
    assert report["metrics"]["accuracy"] == pytest.approx(
        np.mean([p.label == t for p, t in zip(preds, TRUTH)])
    )


def test_multi_label_uses_the_artifact_thresholds(tmp_path: Path, artifact_copy) -> None:
    folder = artifact_copy("tiny-multi")
    edit_manifest(folder, thresholds=[0.05, 0.95, 0.5, 0.3])
    rows = [{"text": TEXTS[i], "label": ["billing", "bug"] if i % 2 else ["delivery"]} for i in range(30)]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    report = report_of(str(path), "--model", str(folder))
    preds = TextClassifier.load(folder, provider="cpu").predict([r["text"] for r in rows])
    assert all("billing" in p.labels and "delivery" not in p.labels for p in preds)  # the thresholds act
    for name in ("billing", "delivery"):
        tp = sum(name in p.labels and name in r["label"] for p, r in zip(preds, rows))
        n_pred = sum(name in p.labels for p in preds)
        assert report["metrics"]["per_label"][name]["precision"] == pytest.approx(
            tp / n_pred if n_pred else 0.0
        )
    assert report["metrics"]["thresholds"] == "manifest"
