"""Shipping a model to workers: only the files one provider needs travel, and workers verify them."""

from __future__ import annotations

import dataclasses

import pytest

from clf_runtime import ArtifactError, TextClassifier
from clf_runtime.shipping import load_packed, pack

from .conftest import fixture_path


def test_pack_keeps_one_variant_and_loads_like_the_folder() -> None:
    packed = pack(fixture_path("tiny-bert"), provider="cpu")
    assert sorted(packed.files) == ["clf.json", "model.int8.onnx", "tokenizer.json"]
    assert packed.precision == "int8"
    assert pack(fixture_path("tiny-bert"), precision="fp32").key != packed.key
    texts = ["where is my refund", "great app"]
    want = TextClassifier.load(fixture_path("tiny-bert"), provider="cpu").predict(texts)
    assert load_packed(packed, threads=1).predict(texts) == want


def test_a_file_damaged_on_the_way_is_refused_by_the_worker() -> None:
    packed = pack(fixture_path("tiny-bert"), provider="cpu")
    data = bytearray(packed.files["model.int8.onnx"])
    data[100] ^= 0xFF
    damaged = dataclasses.replace(packed, files={**packed.files, "model.int8.onnx": bytes(data)})
    with pytest.raises(ArtifactError, match="sha256"):
        load_packed(damaged)
