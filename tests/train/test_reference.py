"""clf_train.reference, the PyTorch side shared by training and the export gate, on tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tiny

from clf_runtime.artifact import TASKS
from clf_train.reference import (
    MAIN_METRIC,
    PROBLEM_TYPES,
    TASK_OF_PROBLEM_TYPE,
    folder_logits,
    forward_inputs,
    label_ids,
    logits,
)

TEXTS = ["where is my refund", "the app crashed twice", "", "order " * 100]
PAIRS = ["thanks", "login error", "card", "late parcel"]


def test_names_cover_every_task() -> None:
    assert set(PROBLEM_TYPES) == set(MAIN_METRIC) == set(TASKS)
    assert {TASK_OF_PROBLEM_TYPE[PROBLEM_TYPES[t]] for t in TASKS} == set(TASKS)
    assert MAIN_METRIC["multi_label"] == "f1_micro"  # the key in metrics.json and clf.json alike


def test_label_ids_by_hand() -> None:
    names = ("a", "b", "c")
    np.testing.assert_array_equal(label_ids(["c", "a"], "single_label", names), [2, 0])
    np.testing.assert_array_equal(label_ids([["a", "c"], []], "multi_label", names), [[1, 0, 1], [0, 0, 0]])
    np.testing.assert_allclose(label_ids([0.5, 2], "regression", names), [0.5, 2.0])


@pytest.mark.parametrize(("arch", "segments"), [("bert", True), ("roberta", False)])
def test_forward_inputs_keep_token_type_ids_only_with_two_segments(tmp_path: Path, arch, segments) -> None:
    model, _ = tiny.build_model(tmp_path, arch=arch)
    keep = forward_inputs(model)
    assert {"input_ids", "attention_mask"} <= keep
    assert ("token_type_ids" in keep) is segments


def test_folder_logits_equal_the_model_and_batches_do_not_matter(tmp_path: Path) -> None:
    model, tok = tiny.build_model(tmp_path, arch="bert")
    single = folder_logits(tmp_path, TEXTS, 16)
    assert single.shape == (4, 3)
    np.testing.assert_allclose(single, logits(model, tok, TEXTS, max_length=16, batch_size=1), atol=1e-5)
    paired = folder_logits(tmp_path, list(zip(TEXTS, PAIRS, strict=True)), 16)
    np.testing.assert_allclose(paired, logits(model, tok, TEXTS, PAIRS, max_length=16), atol=1e-5)
    assert np.abs(paired - single).max() > 1e-3  # the second text is used
    assert folder_logits(tmp_path, [], 16).shape == (0, 3)
