"""Fuzzing the manifest loader: whatever clf.json holds, only clf's own errors come out.

Manifests are the fixture's, with fields replaced by arbitrary JSON, removed, or the whole file
replaced by arbitrary JSON or bytes. Loading must return a manifest or raise a ClfError subclass:
never a KeyError, TypeError, RecursionError or a crash inside onnxruntime or tokenizers.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

from clf_runtime import ClfError, TextClassifier
from clf_runtime.artifact import MANIFEST_NAME
from clf_runtime.trust import load_manifest

from .conftest import fixture_path

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given, settings, HealthCheck = hypothesis.given, hypothesis.settings, hypothesis.HealthCheck

BASE = json.loads((fixture_path("tiny-bert") / MANIFEST_NAME).read_text(encoding="utf-8"))
KEYS = [*BASE, "extra"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["model.onnx", "../model.onnx", "/etc/hostname", "fp32", "int8", "cpu", "input_ids"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=10) | st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=20,
)


names = st.sampled_from(["model.onnx", "model.int8.onnx", "tokenizer.json", "weights.bin", "../model.onnx"])
precisions = st.sampled_from(["fp32", "int8", "fp16", "FP32", ""])
# Values of the right shape but wrong content: they get past the first checks and reach the model.
PLAUSIBLE = {
    "labels": st.lists(st.text(min_size=0, max_size=4), min_size=0, max_size=6),
    "max_length": st.integers(-2, 5000) | st.sampled_from([True, 32.0, "32"]),
    "text_pair": st.booleans() | st.sampled_from(["false", 0, None]),
    "inputs": st.lists(st.sampled_from(["input_ids", "attention_mask", "token_type_ids", "x"]), max_size=4),
    "variants": st.lists(st.fixed_dictionaries({"precision": precisions, "file": names}), max_size=3),
    "provider_variants": st.dictionaries(st.sampled_from(["cpu", "cuda", "gpu"]), precisions, max_size=3),
    "task": st.sampled_from(["single_label", "multi_label", "regression", "other"]),
    "thresholds": st.none() | st.lists(st.floats(allow_nan=True), max_size=4),
    "output": st.sampled_from(["logits", "scores", ""]),
}


@st.composite
def manifests(draw) -> Any:
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["plausible", "plausible", "replace", "delete", "nest"]))
        if action == "delete":
            data.pop(key, None)
        elif action == "plausible" and key in PLAUSIBLE:
            data[key] = draw(PLAUSIBLE[key])
        elif action in ("replace", "plausible"):
            data[key] = draw(json_values)
        elif isinstance(data.get(key), dict) and data[key]:  # change one entry inside an object
            inner = draw(st.sampled_from(sorted(data[key])))
            data[key][inner] = draw(json_values)
        elif isinstance(data.get(key), list) and data[key]:
            data[key][draw(st.integers(0, len(data[key]) - 1))] = draw(json_values)
    return data


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "artifact"
        shutil.copytree(fixture_path("tiny-bert"), dest)
        yield dest


def write(folder: Path, content: bytes) -> None:
    (folder / MANIFEST_NAME).write_bytes(content)


# Derandomized and without an example database: the same cases every run, no files written.
FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=200, **FUZZ)
@given(data=manifests() | json_values)
def test_manifest_loader_raises_only_clf_errors(folder: Path, data: Any) -> None:
    write(folder, json.dumps(data).encode())
    with contextlib.suppress(ClfError):
        load_manifest(folder)


@settings(max_examples=100, **FUZZ)
@given(content=st.binary(max_size=200))
def test_manifest_loader_on_arbitrary_bytes(folder: Path, content: bytes) -> None:
    write(folder, content)
    with contextlib.suppress(ClfError):
        load_manifest(folder)


@settings(max_examples=40, **FUZZ)
@given(data=manifests())
def test_loading_a_model_with_a_fuzzed_manifest_raises_only_clf_errors(folder: Path, data: Any) -> None:
    write(folder, json.dumps(data).encode())
    with contextlib.suppress(ClfError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a capped max_length warns; that is allowed
        clf = TextClassifier.load(folder, provider="cpu")
        clf.predict(["hello", "refund " * 300])
