"""Long texts in the runtime: windows and head-tail on the committed fixture models (no torch)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clf_runtime import TextClassifier
from clf_runtime.artifact import FileEntry, Manifest, Variant
from clf_runtime.calibration import Calibration
from clf_runtime.cli.run import main
from clf_runtime.errors import ArtifactError, InputError
from clf_runtime.long_text import LongText, LongTextEncoder, aggregate
from clf_runtime.trust import load_manifest

from .conftest import edit_manifest, fixture_path, rehash

BERT = fixture_path("tiny-bert")
SHORT = ["where is my refund", "", "the app crashed", "Ünïcödé ñ"]
# One token per word in the fixture vocabulary, so token counts are exact.
WORD = "refund"


@pytest.fixture(scope="module")
def clf() -> TextClassifier:
    return TextClassifier.load(BERT, provider="cpu", precision="fp32")


def words(n: int) -> str:
    return " ".join([WORD, "order", "parcel", "payment"][i % 4] for i in range(n))


def test_every_strategy_equals_truncate_on_short_texts(clf: TextClassifier) -> None:
    truncated = clf.logits(SHORT, long_text="truncate")
    for strategy in ("head-tail", "windows"):
        np.testing.assert_array_equal(clf.logits(SHORT, long_text=strategy), truncated)
    assert clf.predict(SHORT, long_text="windows") == clf.predict(SHORT, long_text="truncate")


def test_five_windows_with_the_stated_stride(clf: TextClassifier) -> None:
    # max_length 32: 30 text tokens per window; stride 6 shares 6 tokens, so each window adds 24.
    encoder = LongTextEncoder(clf.tokenizer, 32, LongText("windows", stride=6, max_windows=8))
    encoded = encoder.encode([words(30 + 4 * 24)])
    windows = encoded.encodings
    assert len(windows) == 5 and list(encoded.starts) == [0, 5]
    assert encoded.too_long == 1
    for a, b in itertools.pairwise(windows):
        assert len(a) == 32
        assert a.tokens[0] == "[CLS]" and a.tokens[-1] == "[SEP]"
        assert a.ids[-1 - 6 : -1] == b.ids[1 : 1 + 6]  # the stride: last 6 text tokens begin the next
    text_ids = [i for w in windows for i in w.ids[1:-1][: 24 if w is not windows[-1] else None]]
    assert len(text_ids) == 30 + 4 * 24  # together the windows cover every token once


def test_window_count_is_bounded_and_spread(clf: TextClassifier) -> None:
    encoder = LongTextEncoder(clf.tokenizer, 32, LongText("windows", stride=0, max_windows=3))
    all_windows = LongTextEncoder(clf.tokenizer, 32, LongText("windows", stride=0, max_windows=100))
    text = words(30 * 20)
    every = all_windows.encode([text]).encodings
    kept = encoder.encode([text]).encodings
    assert len(every) == 20 and len(kept) == 3
    assert [w.ids for w in kept] == [every[0].ids, every[10].ids, every[19].ids]


def test_aggregation_by_hand() -> None:
    logits = np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 5.0], [-1.0, 4.0], [0.0, 1.0], [2.0, 2.0]])
    starts = np.array([0, 2, 3, 6])
    np.testing.assert_allclose(aggregate(logits, starts, "mean"), [[2.0, 1.0], [5.0, 5.0], [1 / 3, 7 / 3]])
    np.testing.assert_allclose(aggregate(logits, starts, "max"), [[3.0, 2.0], [5.0, 5.0], [2.0, 4.0]])


@pytest.mark.parametrize("how", ["mean", "max"])
def test_windowed_logits_equal_per_window_runs(clf: TextClassifier, how: str) -> None:
    config = LongText("windows", stride=8, max_windows=8, aggregate=how)
    texts = [words(100), "short text", words(61)]
    got = clf.logits(texts, batch_size=2, long_text=config)
    encoder = LongTextEncoder(clf.tokenizer, 32, config)
    for row, text in zip(got, texts, strict=True):
        windows = encoder.encode([text]).encodings
        each = np.concatenate([clf._run([w]) for w in windows])  # one window per session run
        expected = each.mean(axis=0) if how == "mean" else each.max(axis=0)
        np.testing.assert_allclose(row, expected, atol=1e-5, rtol=0)
    assert got.shape == (3, 3)


def test_windows_count_against_the_batch_cost_cap(clf: TextClassifier, monkeypatch) -> None:
    import clf_runtime.classifier as classifier

    sizes: list[int] = []
    real = classifier._batches

    def spy(order, lengths, batch_size):  # type: ignore[no-untyped-def]
        batches = real(order, lengths, batch_size)
        sizes.extend(len(b) for b in batches)
        return batches

    monkeypatch.setattr(classifier, "_batches", spy)
    monkeypatch.setattr(classifier, "MAX_BATCH_COST", 4 * 32 * 32)  # 4 full windows per batch
    clf.logits([words(400)] * 3, batch_size=64, long_text=LongText("windows", stride=4))
    assert sum(sizes) == 3 * 8 and max(sizes) <= 4


def test_head_tail_keeps_first_and_last_tokens(clf: TextClassifier) -> None:
    text = "please " + words(200) + " thanks"
    (enc,) = LongTextEncoder(clf.tokenizer, 32, LongText("head-tail", head=5)).encode([text]).encodings
    assert len(enc) <= 32
    assert enc.tokens[:3] == ["[CLS]", "please", WORD]
    assert enc.tokens[-2:] == ["thanks", "[SEP]"]
    assert clf.logits([text], long_text="head-tail").shape == (1, 3)


def test_bad_settings_are_input_errors(clf: TextClassifier) -> None:
    with pytest.raises(InputError, match="stride 30 must be smaller"):
        clf.logits(["x"], long_text=LongText("windows", stride=30))
    with pytest.raises(InputError, match="max-windows"):
        clf.logits(["x"], long_text=LongText("windows", max_windows=0))
    with pytest.raises(InputError, match="unknown long-text strategy"):
        clf.logits(["x"], long_text="chunks")
    pair = TextClassifier.load(fixture_path("tiny-pair"), provider="cpu")
    with pytest.raises(InputError, match="single-text models"):
        pair.logits([("a", "b")], long_text="windows")


def _manifest(**kw) -> Manifest:
    base = dict(
        task="single_label",
        labels=("a", "b", "c"),
        max_length=32,
        inputs=("input_ids", "attention_mask"),
        variants=(Variant("fp32", "model.onnx"),),
        provider_variants={"cpu": "fp32"},
        files={  # the validator wants a checksum for every file it would read
            name: FileEntry(sha256="0" * 64, bytes=1) for name in ("model.onnx", "tokenizer.json")
        },
    )
    return Manifest(**{**base, **kw})


def test_manifest_round_trips_long_text_and_calibration() -> None:
    m = _manifest(
        long_text=LongText("windows", stride=7, max_windows=4, aggregate="max"),
        calibration=Calibration("temperature", temperature=1.7),
    )
    back = Manifest.from_json(json.loads(json.dumps(m.to_json())))
    assert back.long_text == m.long_text and back.calibration == m.calibration
    platt = _manifest(calibration=Calibration("platt", slopes=(1.0, 2.0, 0.5), intercepts=(0.0, -1.0, 0.2)))
    assert Manifest.from_json(json.loads(json.dumps(platt.to_json()))).calibration == platt.calibration


def test_old_manifests_load_as_truncate_uncalibrated(artifact_copy) -> None:
    """An artifact as exports wrote it before long_text and calibration (and tokenizer padding) existed."""
    from tokenizers import Tokenizer

    folder = artifact_copy()
    edit_manifest(folder, long_text=..., calibration=...)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.save(str(folder / "tokenizer.json"))
    rehash(folder, "tokenizer.json")
    data = json.loads((folder / "clf.json").read_text())
    assert "long_text" not in data and "calibration" not in data
    m = load_manifest(folder)
    assert m.long_text == LongText() and m.long_text.strategy == "truncate" and m.calibration is None
    texts = ["short", "a somewhat longer text to pad the short one in its batch"]
    old = TextClassifier.load(folder, provider="cpu", precision="fp32").logits(texts)
    new = TextClassifier.load(BERT, provider="cpu", precision="fp32").logits(texts)
    np.testing.assert_allclose(old, new, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("long_text", {"strategy": "chunks"}, "unknown long-text strategy"),
        ("long_text", {"strategy": "windows", "max_windows": 0}, "max-windows"),
        ("long_text", "windows", "must be an object"),
        ("calibration", {"method": "temperature", "temperature": -1}, "positive"),
        ("calibration", {"method": "platt", "slopes": [1], "intercepts": [0]}, "3 slopes"),
        ("calibration", {"method": "isotonic"}, "unknown calibration method"),
    ],
)
def test_bad_manifest_fields_are_artifact_errors(artifact_copy, field: str, value, match: str) -> None:
    folder = artifact_copy()
    data = json.loads((folder / "clf.json").read_text())
    data[field] = value
    (folder / "clf.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=match):
        TextClassifier.load(folder)


def _with(folder: Path, **fields) -> Path:
    data = json.loads((folder / "clf.json").read_text())
    data.update(fields)
    (folder / "clf.json").write_text(json.dumps(data))
    return folder


def test_runtime_reads_the_strategy_from_the_manifest(artifact_copy, clf: TextClassifier) -> None:
    folder = _with(artifact_copy(), long_text={"strategy": "windows", "stride": 8, "max_windows": 8})
    windowed = TextClassifier.load(folder, provider="cpu", precision="fp32")
    texts = [words(100)]
    np.testing.assert_allclose(
        windowed.logits(texts), clf.logits(texts, long_text=LongText("windows", stride=8)), atol=1e-6
    )
    np.testing.assert_allclose(windowed.logits(texts, long_text="truncate"), clf.logits(texts), atol=1e-6)


def test_runtime_applies_the_temperature(artifact_copy, clf: TextClassifier) -> None:
    folder = _with(artifact_copy(), calibration={"method": "temperature", "temperature": 2.5})
    calibrated = TextClassifier.load(folder, provider="cpu", precision="fp32")
    logits = clf.logits(SHORT)
    z = logits / 2.5
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    for p, row, raw in zip(calibrated.predict(SHORT), expected, clf.predict(SHORT), strict=True):
        np.testing.assert_allclose([p.scores[label] for label in clf.labels], row, atol=1e-6)
        assert p.label == raw.label  # a temperature never changes the label
    np.testing.assert_array_equal(calibrated.logits(SHORT), logits)  # logits() stays raw


def test_runtime_applies_platt_to_multi_label(artifact_copy) -> None:
    multi = fixture_path("tiny-multi")
    raw = TextClassifier.load(multi, provider="cpu", precision="fp32")
    n = len(raw.labels)
    folder = _with(
        artifact_copy("tiny-multi"),
        calibration={"method": "platt", "slopes": [2.0] * n, "intercepts": [-1.0] * n},
    )
    calibrated = TextClassifier.load(folder, provider="cpu", precision="fp32")
    logits = raw.logits(SHORT)
    expected = 1 / (1 + np.exp(-(2.0 * logits - 1.0)))
    got = np.array([[p.scores[label] for label in raw.labels] for p in calibrated.predict(SHORT)])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_min_score_abstains(clf: TextClassifier) -> None:
    preds = clf.predict(SHORT)
    cut = sorted(p.score for p in preds)[1] + 1e-9  # the two least sure abstain
    kept = clf.predict(SHORT, min_score=cut)
    assert sum(p.label is None for p in kept) == 2
    for p, q in zip(preds, kept, strict=True):
        assert q.label == (p.label if p.score >= cut else None) and q.score == p.score
        assert q.to_dict()["label"] == q.label
    with pytest.raises(InputError, match="between 0 and 1"):
        clf.predict(SHORT, min_score=2)
    multi = TextClassifier.load(fixture_path("tiny-multi"), provider="cpu")
    with pytest.raises(InputError, match="single-label"):
        multi.predict(SHORT, min_score=0.5)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_clf_run_long_text_min_score_and_truncation_note(tmp_path: Path, clf: TextClassifier) -> None:
    path = tmp_path / "in.txt"
    lines = ["where is my refund", words(100), words(80)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, [str(path), "--model", str(BERT)])
    assert result.exit_code == 0
    assert "2 of 3 inputs were longer than max_length (32 tokens)" in result.stderr
    assert "--long-text windows" in result.stderr
    windows = CliRunner().invoke(main, [str(path), "--model", str(BERT), "--long-text", "windows"])
    assert windows.exit_code == 0 and windows.stderr == ""
    expected = clf.predict(lines, long_text="windows")
    assert [r.split("\t")[0] for r in windows.stdout.splitlines()] == [p.label for p in expected]
    abstain = CliRunner().invoke(
        main, [str(path), "--model", str(BERT), "--min-score", "1", "--format", "jsonl"]
    )
    assert abstain.exit_code == 0
    assert all(json.loads(r)["label"] is None for r in abstain.stdout.splitlines())
    text = run(str(path), "--model", str(BERT), "--min-score", "1")
    assert [r.split("\t")[0] for r in text.stdout.splitlines()] == ["-", "-", "-"]


@pytest.mark.parametrize("args", [["--min-score", "2"], ["--long-text", "chunks"], ["--min-score", "-0.1"]])
def test_clf_run_bad_values_exit_2(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "in.txt"
    path.write_text("x\n", encoding="utf-8")
    result = CliRunner().invoke(main, [str(path), "--model", str(BERT), *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_manifest_stride_too_large_for_max_length_fails_at_load(artifact_copy) -> None:
    folder = _with(artifact_copy(), long_text={"strategy": "windows", "stride": 40})
    with pytest.raises(ArtifactError, match="stride 40 must be smaller"):
        TextClassifier.load(folder)


def test_windows_from_the_manifest_reuse_the_loaded_tokenizer(clf: TextClassifier, artifact_copy) -> None:
    from .conftest import edit_manifest

    folder = artifact_copy("tiny-bert")
    setting = LongText("windows", stride=6, max_windows=8)
    edit_manifest(folder, long_text=setting.to_json())
    windowed = TextClassifier.load(folder, provider="cpu", precision="fp32")
    encoder = windowed._encoders.get(windowed.manifest.long_text)
    assert encoder._windows is windowed.tokenizer  # no second parse of tokenizer.json at load
    texts = [words(300), *SHORT, words(31)]
    # The same windows as a clone set up for them (what the fixture's truncate artifact builds) ...
    np.testing.assert_array_equal(windowed.logits(texts), clf.logits(texts, long_text=setting))
    # ... and the stride changes only the overflow: truncate reads the same first tokens.
    np.testing.assert_array_equal(
        windowed.logits(texts, long_text="truncate"), clf.logits(texts, long_text="truncate")
    )
