"""Artifacts built to attack or confuse the runtime: each is refused with one line, or made safe.

Every bad artifact is a copy of a tiny fixture, damaged in a temporary folder. Graph edits use
onnx_edit (wire-level protobuf), so these tests need only the runtime wheel.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from clf_runtime import ArtifactError, InferenceError, TextClassifier
from clf_runtime.artifact import MANIFEST_NAME, validate_manifest
from clf_runtime.cli.run import main
from clf_runtime.trust import load_manifest

from .conftest import edit_manifest, fixture_path, rehash
from .onnx_edit import externalize, set_raw_data

FP32 = "model.onnx"


def load(folder: Path) -> TextClassifier:
    return TextClassifier.load(folder, provider="cpu", precision="fp32")


def one_line_error(folder: Path, tmp_path: Path) -> str:
    """Run clf-run on the artifact and return its error, checking it is one line with status 1."""
    text = tmp_path / "in.txt"
    text.write_text("hello\n", encoding="utf-8")
    result = CliRunner().invoke(main, [str(text), "--model", str(folder)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    return result.output


# --- files outside the folder -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["/etc/hostname", "../model.onnx", "sub/model.onnx", "..", "", "a\\b", "c:x"]
)
def test_variant_file_must_be_a_plain_name(artifact_copy, name: str) -> None:
    folder = artifact_copy()
    edit_manifest(folder, variants=[{"precision": "fp32", "file": name}], provider_variants={"cpu": "fp32"})
    with pytest.raises(ArtifactError, match="not a plain file name"):
        load(folder)


def test_files_entry_must_be_a_plain_name(artifact_copy) -> None:
    folder = artifact_copy()
    data = json.loads((folder / MANIFEST_NAME).read_text())
    data["files"]["../../etc/passwd"] = {"sha256": "0" * 64, "bytes": 1}
    (folder / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="not a plain file name"):
        load_manifest(folder)


def test_symlink_out_of_the_folder_is_refused_and_says_nothing_about_the_target(
    artifact_copy, tmp_path: Path
) -> None:
    folder = artifact_copy()
    outside = tmp_path / "secret.onnx"
    outside.write_bytes((folder / FP32).read_bytes())  # even the right bytes, outside, are refused
    messages = []
    for target in (outside, tmp_path / "does-not-exist"):
        (folder / FP32).unlink(missing_ok=True)
        (folder / FP32).symlink_to(target)
        with pytest.raises(
            ArtifactError, match="does not resolve to a file inside the artifact folder"
        ) as err:
            load(folder)
        messages.append(str(err.value))
    # The same words whether the target exists or not: no size, no existence, no name of it.
    assert messages[0] == messages[1]
    assert "secret" not in messages[0] and "bytes" not in messages[0]


def test_symlinked_manifest_out_of_the_folder_is_refused(artifact_copy, tmp_path: Path) -> None:
    folder = artifact_copy()
    real = tmp_path / "elsewhere.json"
    (folder / MANIFEST_NAME).rename(real)
    (folder / MANIFEST_NAME).symlink_to(real)
    with pytest.raises(ArtifactError, match="inside the artifact folder"):
        load(folder)


def test_symlink_inside_the_folder_is_followed(artifact_copy) -> None:
    folder = artifact_copy()
    (folder / "blobs").mkdir()
    (folder / FP32).rename(folder / "blobs" / "abc")
    (folder / FP32).symlink_to(Path("blobs") / "abc")
    assert load(folder).predict(["hello"])[0].label


def test_symlink_loop_and_folder_are_refused(artifact_copy) -> None:
    folder = artifact_copy()
    (folder / FP32).unlink()
    (folder / FP32).symlink_to(FP32)  # points at itself
    with pytest.raises(ArtifactError):
        load(folder)
    (folder / FP32).unlink()
    (folder / FP32).mkdir()
    with pytest.raises(ArtifactError, match="not a regular file"):
        load(folder)


def test_wrong_checksum_on_a_file_outside_reveals_nothing(artifact_copy, tmp_path: Path) -> None:
    # The issue: a manifest naming /abs/path with a wrong checksum revealed the file's size.
    folder = artifact_copy()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"x" * 12345)
    edit_manifest(folder, variants=[{"precision": "fp32", "file": str(secret)}], provider_variants={})
    message = one_line_error(folder, tmp_path)
    assert "12345" not in message and "secret.bin" in message  # the manifest's own text, nothing more


# --- ONNX external data -----------------------------------------------------------------------


def external_artifact(artifact_copy, location: str = "weights.bin", listed: bool = True) -> Path:
    folder = artifact_copy()
    model, data = externalize((folder / FP32).read_bytes(), location)
    (folder / FP32).write_bytes(model)
    if "/" not in location:
        (folder / location).write_bytes(data)
    rehash(folder, FP32, *([location] if listed else []))
    return folder


def test_external_data_is_verified_and_loaded_from_memory(artifact_copy, monkeypatch, tmp_path: Path) -> None:
    folder = external_artifact(artifact_copy)
    assert (folder / "weights.bin").stat().st_size > 10_000  # the weights really moved out
    # A decoy in the current directory: ONNX Runtime looks there for a bytes-loaded model's data.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    texts = ["where is my refund", "hi"]
    plain = load(fixture_path("tiny-bert")).logits(texts)
    assert load(folder).logits(texts).tolist() == plain.tolist()


def test_tampered_external_data_is_refused(artifact_copy) -> None:
    folder = external_artifact(artifact_copy)
    data = bytearray((folder / "weights.bin").read_bytes())
    data[100] ^= 0xFF
    (folder / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="weights.bin does not match its sha256"):
        load(folder)


def test_unlisted_external_data_is_refused(artifact_copy) -> None:
    folder = external_artifact(artifact_copy, listed=False)
    with pytest.raises(ArtifactError, match="refers to weights.bin, which clf.json does not list"):
        load(folder)


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/hostname", "sub/weights.bin"])
def test_external_data_outside_the_folder_is_refused(artifact_copy, location: str) -> None:
    folder = external_artifact(artifact_copy, location=location, listed=False)
    with pytest.raises(ArtifactError, match="not a plain file name"):
        load(folder)


def test_external_data_symlinked_out_is_refused(artifact_copy, tmp_path: Path) -> None:
    folder = external_artifact(artifact_copy)
    (folder / "weights.bin").rename(tmp_path / "w.bin")
    (folder / "weights.bin").symlink_to(tmp_path / "w.bin")
    with pytest.raises(ArtifactError, match="inside the artifact folder"):
        load(folder)


def test_not_an_onnx_file_is_one_line(artifact_copy, tmp_path: Path) -> None:
    folder = artifact_copy()
    (folder / "model.int8.onnx").write_bytes(b"\xff" * 64)
    rehash(folder, "model.int8.onnx")
    assert "not a readable ONNX model" in one_line_error(folder, tmp_path)


# --- the manifest against the model -----------------------------------------------------------


def test_label_count_must_match_the_output_width(artifact_copy, tmp_path: Path) -> None:
    folder = artifact_copy()
    edit_manifest(folder, labels=["a", "b", "c", "d"])
    with pytest.raises(ArtifactError, match="model has 3 outputs but clf.json lists 4 labels"):
        load(folder)
    assert "3 outputs" in one_line_error(folder, tmp_path)


def test_inputs_must_match_the_graph(artifact_copy) -> None:
    folder = artifact_copy()
    edit_manifest(folder, inputs=["input_ids", "attention_mask"])
    with pytest.raises(ArtifactError, match="the model declares"):
        load(folder)


def test_output_name_must_exist(artifact_copy) -> None:
    folder = artifact_copy()
    edit_manifest(folder, output="scores")
    with pytest.raises(ArtifactError, match="names the output 'scores'"):
        load(folder)


def test_max_length_past_the_position_table_is_capped_with_a_warning(artifact_copy) -> None:
    folder = artifact_copy()
    edit_manifest(folder, max_length=1000)  # the tiny model's position table has 128 rows
    with pytest.warns(UserWarning, match="position table holds 128"):
        clf = load(folder)
    assert clf.manifest.max_length == 128
    long = " ".join(["refund"] * 2000)
    assert clf.predict([long, "hi"])[0].label in clf.labels


def test_tokenizer_larger_than_the_vocabulary_is_refused(artifact_copy) -> None:
    folder = artifact_copy()
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["added_tokens"].append(
        {
            "id": 244,
            "content": "[FAR]",
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
    )
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    rehash(folder, "tokenizer.json")
    with pytest.raises(ArtifactError, match=r"token ids up to \d+, .* 244 rows"):
        load(folder)


def test_nan_scores_are_null_in_json(artifact_copy, tmp_path: Path) -> None:
    folder = artifact_copy()
    (folder / "model.int8.onnx").unlink()
    edit_manifest(folder, variants=[{"precision": "fp32", "file": FP32}], provider_variants={"cpu": "fp32"})
    data = json.loads((folder / MANIFEST_NAME).read_text())
    del data["files"]["model.int8.onnx"]
    (folder / MANIFEST_NAME).write_text(json.dumps(data))
    nan3 = struct.pack("<3f", math.nan, math.nan, math.nan)
    (folder / FP32).write_bytes(set_raw_data((folder / FP32).read_bytes(), "classifier.bias", nan3))
    rehash(folder, FP32)
    text = tmp_path / "in.txt"
    text.write_text("a\nb\n", encoding="utf-8")
    result = CliRunner().invoke(main, [str(text), "-m", str(folder), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]  # strict JSON: no NaN tokens
    assert "NaN" not in result.output and rows[0]["score"] is None
    assert set(rows[0]["scores"].values()) == {None}


# --- each manifest type error -----------------------------------------------------------------

BAD_FIELDS = [
    ("format_version", "1", "format_version"),
    ("format_version", True, "format_version"),
    ("format_version", 1.0, "format_version"),
    ("task", "multi-label", "task"),
    ("task", 3, "task"),
    ("labels", [], "labels"),
    ("labels", "negative", "labels"),
    ("labels", ["a", "a", "b"], "twice"),
    ("labels", ["a", "b\nc", "d"], "labels"),
    ("labels", ["a", "b\u2028", "d"], "labels"),
    ("labels", ["a", "", "d"], "labels"),
    ("labels", ["a", 2, "d"], "labels"),
    ("max_length", "32", "max_length"),
    ("max_length", 32.0, "max_length"),
    ("max_length", True, "max_length"),
    ("max_length", 1, "max_length"),
    ("max_length", 10**12, "max_length"),
    ("text_pair", "false", "text_pair"),
    ("text_pair", 0, "text_pair"),
    ("inputs", ["input_ids", "pixel_values"], "inputs"),
    ("inputs", ["attention_mask"], "inputs"),
    ("inputs", "input_ids", "inputs"),
    ("variants", [], "variants"),
    ("variants", [{"precision": "fp32", "file": 7}], "variants|file"),
    ("variants", [{"precision": "fp8", "file": "model.onnx"}], "precision"),
    ("variants", [{"precision": "fp32", "file": "model.onnx", "extra": 1}], "variants"),
    ("variants", "model.onnx", "variants"),
    ("provider_variants", {"cpu": "fp16"}, "provider_variants"),
    ("provider_variants", {"tpu": "fp32"}, "provider_variants"),
    ("provider_variants", [], "provider_variants"),
    ("thresholds", [0.5, 0.5, 0.5], "thresholds"),  # not a multi-label model
    ("output", 5, "output"),
    ("output", "", "output"),
    ("files", [], "files"),
    ("files", {"model.onnx": {"sha256": "x", "bytes": 1}}, "files"),
    ("files", {"tokenizer.json": {"sha256": "0" * 64, "bytes": -1}}, "bytes"),
    ("files", {"tokenizer.json": {"sha256": "0" * 64, "bytes": "7028"}}, "bytes"),
    ("metrics", [], "metrics"),
    ("created_by", 1, "created_by"),
    ("labels", ..., "labels.*missing"),
]


@pytest.mark.parametrize(("key", "value", "match"), BAD_FIELDS)
def test_each_manifest_type_error_is_refused(artifact_copy, key: str, value, match: str) -> None:
    folder = artifact_copy()
    edit_manifest(folder, **{key: value})
    with pytest.raises(ArtifactError, match=match):
        load_manifest(folder)


@pytest.mark.parametrize(
    "thresholds", [[0.5, 0.5, 0.5], [0.5] * 4 + [0.1], ["0.5"] * 4, [float("nan")] * 4, [2.0] * 4]
)
def test_multi_label_thresholds_are_checked(artifact_copy, thresholds) -> None:
    folder = artifact_copy("tiny-multi")
    edit_manifest(folder, thresholds=thresholds)
    with pytest.raises(ArtifactError, match="thresholds"):
        load_manifest(folder)


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "a": 2}', "[" * 100_000 + "]" * 100_000, '{"max_length": ' + "9" * 5000 + "}", "\xff"],
)
def test_hostile_json_is_one_artifact_error(artifact_copy, text: str) -> None:
    folder = artifact_copy()
    (folder / MANIFEST_NAME).write_bytes(
        text.encode("utf-8", "surrogateescape") if text != "\xff" else b"\xff"
    )
    with pytest.raises(ArtifactError):
        load_manifest(folder)


def test_huge_manifest_is_not_read(artifact_copy) -> None:
    folder = artifact_copy()
    with open(folder / MANIFEST_NAME, "wb") as f:
        f.truncate(64 << 20)  # sparse: costs no disk
    with pytest.raises(ArtifactError, match="larger than"):
        load_manifest(folder)


def test_validator_accepts_what_the_runtime_writes() -> None:
    for name in ("tiny-bert", "tiny-multi", "tiny-pair"):
        manifest = load_manifest(fixture_path(name))
        assert validate_manifest(json.loads(json.dumps(manifest.to_json()))) == manifest


def test_fifo_in_place_of_a_model_does_not_hang(artifact_copy) -> None:
    folder = artifact_copy()
    (folder / FP32).unlink()
    os.mkfifo(folder / FP32)
    with pytest.raises(ArtifactError, match="not a regular file"):
        load(folder)


# --- failures at run time ---------------------------------------------------------------------


def test_tokenizer_failure_at_run_time_is_one_line(artifact_copy, tmp_path: Path) -> None:
    folder = artifact_copy()
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["model"]["unk_token"] = "[NOPE]"  # unknown characters now make WordPiece fail
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    rehash(folder, "tokenizer.json")
    clf = load(folder)
    for texts in (["☃"], ["fine", "☃"]):  # encode() and encode_batch()
        with pytest.raises(InferenceError, match="the tokenizer failed.*Missing"):
            clf.predict(texts)
    text = tmp_path / "in.txt"
    text.write_text("hello\n☃\n", encoding="utf-8")
    result = CliRunner().invoke(main, [str(text), "--model", str(folder)], catch_exceptions=False)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "tokenizer failed" in result.output


def test_tokenizer_panic_is_an_inference_error() -> None:
    import tokenizers  # noqa: F401 - registers pyo3's PanicException, a BaseException

    from clf_runtime.classifier import _tokenizer_errors

    panics = [c for c in BaseException.__subclasses__() if c.__name__ == "PanicException"]
    if not panics:
        pytest.skip("this tokenizers build does not expose PanicException")
    panic = panics[0]
    with pytest.raises(InferenceError, match="PanicException"), _tokenizer_errors():
        raise panic("index out of bounds")


def test_onnxruntime_failure_at_run_time_is_an_inference_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from clf_runtime import long_text

    clf = load(fixture_path("tiny-bert"))
    clf.tokenizer.enable_truncation(max_length=1000)  # past the 128-row position table
    monkeypatch.setattr(long_text, "CUT_FIRST_CHARS", 10**9)  # and no cut before tokenizing
    with pytest.raises(InferenceError, match="onnxruntime failed on a batch of 1 inputs"):
        clf.predict(["refund " * 500])
