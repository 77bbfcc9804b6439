"""The artifact format: manifest round trip and every way loading must refuse a damaged folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clf_runtime import ArtifactError, TextClassifier
from clf_runtime.artifact import FORMAT_VERSION, MANIFEST_NAME, Manifest
from clf_runtime.trust import load_manifest

from .conftest import fixture_path


def test_manifest_round_trips_through_json() -> None:
    manifest = load_manifest(fixture_path("tiny-bert"))
    again = Manifest.from_json(json.loads(json.dumps(manifest.to_json())))
    assert again == manifest
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.labels == ("negative", "neutral", "positive")
    assert set(manifest.files) == {"tokenizer.json", "model.onnx", "model.int8.onnx"}
    assert manifest.variant_for("cpu").precision == "int8"
    assert manifest.variant_for("cuda").precision == "fp32"


def test_missing_folder_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist.*clf-export"):
        TextClassifier.load(tmp_path / "nope")


def test_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no clf.json"):
        TextClassifier.load(tmp_path)


def test_manifest_not_json(artifact_copy) -> None:
    folder = artifact_copy()
    (folder / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        TextClassifier.load(folder)


def test_other_format_version(artifact_copy) -> None:
    folder = artifact_copy()
    data = json.loads((folder / MANIFEST_NAME).read_text())
    data["format_version"] = FORMAT_VERSION + 1
    (folder / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="format version 2.*re-export"):
        TextClassifier.load(folder)


def test_malformed_manifest_field(artifact_copy) -> None:
    folder = artifact_copy()
    data = json.loads((folder / MANIFEST_NAME).read_text())
    del data["labels"]
    (folder / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="malformed"):
        TextClassifier.load(folder)


def test_truncated_model_file(artifact_copy) -> None:
    folder = artifact_copy()
    model = folder / "model.int8.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="truncated"):
        TextClassifier.load(folder, provider="cpu")


def test_tampered_file_same_size(artifact_copy) -> None:
    folder = artifact_copy()
    tok = folder / "tokenizer.json"
    data = bytearray(tok.read_bytes())
    data[-10] = ord("X") if data[-10] != ord("X") else ord("Y")
    tok.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        TextClassifier.load(folder)


def test_missing_model_file(artifact_copy) -> None:
    folder = artifact_copy()
    (folder / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match="model.onnx is missing"):
        TextClassifier.load(folder, precision="fp32")
    # The int8 variant does not need the fp32 file.
    assert TextClassifier.load(folder, precision="int8").precision == "int8"


def test_unknown_precision(artifact_copy) -> None:
    with pytest.raises(ArtifactError, match="no fp16 model"):
        TextClassifier.load(artifact_copy(), precision="fp16")
