"""clf-serve's request checks and answer shapes, without a server (runs in the slim-wheel run too)."""

from __future__ import annotations

import numpy as np
import pytest

from clf_runtime.prediction import to_predictions
from clf_runtime.serve.schema import RequestError, answer, decode_json, parse_predict

LABELS = ("a", "b", "c")


def test_shapes_of_inputs_for_single_text_and_pair_models() -> None:
    assert parse_predict({"inputs": "x"}, False, 10).inputs == ["x"]
    assert parse_predict({"inputs": "x"}, False, 10).batched is False
    assert parse_predict({"inputs": ["x", "y"]}, False, 10).inputs == ["x", "y"]
    one_pair = parse_predict({"inputs": ["x", "y"]}, True, 10)
    assert (one_pair.inputs, one_pair.batched) == ([("x", "y")], False)
    pairs = parse_predict({"inputs": [["x", "y"], ["z", "w"]]}, True, 10)
    assert (pairs.inputs, pairs.batched) == ([("x", "y"), ("z", "w")], True)


def test_too_many_inputs_names_the_limit() -> None:
    with pytest.raises(RequestError, match="at most 2") as err:
        parse_predict({"inputs": ["a", "b", "c"]}, False, 2)
    assert err.value.status == 413


def test_non_utf8_is_refused() -> None:
    with pytest.raises(RequestError) as err:
        decode_json(b'{"inputs": "\xff"}')
    assert (err.value.status, err.value.error_type) == (400, "encoding")


def test_min_score_leaves_out_unlikely_labels_but_keeps_the_best() -> None:
    (pred,) = to_predictions(
        np.array([[3.0, 0.0, -3.0]], np.float32), "single_label", LABELS, np.full(3, 0.5)
    )
    req = parse_predict({"inputs": "x"}, False, 10)
    assert [e["label"] for e in answer(pred, [3.0, 0.0, -3.0], LABELS, req, 0.04)] == ["a", "b"]
    assert [e["label"] for e in answer(pred, [3.0, 0.0, -3.0], LABELS, req, 0.99)] == ["a"]
    raw = parse_predict({"inputs": "x", "raw_scores": True}, False, 10)
    assert answer(pred, [3.0, 0.0, -3.0], LABELS, raw, 0.04) == [
        {"score": 3.0, "label": "a"},
        {"score": 0.0, "label": "b"},
    ]


def test_regression_answers_its_value() -> None:
    (pred,) = to_predictions(np.array([[0.25]], np.float32), "regression", ("sim",), np.full(1, 0.5))
    req = parse_predict({"inputs": "x"}, False, 10)
    assert answer(pred, [0.25], ("sim",), req, 0.5) == [{"score": 0.25, "label": "sim"}]
    clf_req = parse_predict({"inputs": "x", "format": "clf"}, False, 10)
    assert answer(pred, [0.25], ("sim",), clf_req, 0.0) == {"value": 0.25, "scores": {"sim": 0.25}}


def test_tei_batch_form_and_parameters() -> None:
    batch = parse_predict({"inputs": [["x"], ["y"]]}, False, 10)
    assert (batch.inputs, batch.batched) == (["x", "y"], True)
    with pytest.raises(RequestError, match="pair"):
        parse_predict({"inputs": [["x"]]}, True, 10)
    hf = parse_predict(
        {"inputs": "x", "parameters": {"top_k": 2, "function_to_apply": "none", "k": 1}}, False, 10
    )
    assert (hf.top_k, hf.function, hf.batched) == (2, "none", True)  # the Inference API answers [[...]]
    assert parse_predict({"inputs": "x", "parameters": None, "options": {}}, False, 10).batched is False
    for bad in ({"top_k": 0}, {"top_k": 1.5}, {"top_k": True}, {"function_to_apply": "relu"}, []):
        with pytest.raises(RequestError) as err:
            parse_predict({"inputs": "x", "parameters": bad}, False, 10)
        assert err.value.status == 422
    with pytest.raises(RequestError, match="raw_score"):
        parse_predict({"inputs": "x", "raw_score": True}, False, 10)


def test_top_k_and_function_to_apply_on_the_logits() -> None:
    row = [3.0, 0.0, -3.0]
    (pred,) = to_predictions(np.array([row], np.float32), "single_label", LABELS, np.full(3, 0.5))
    top2 = parse_predict({"inputs": "x", "parameters": {"top_k": 2}}, False, 10)
    assert [e["label"] for e in answer(pred, row, LABELS, top2, 0.0)] == ["a", "b"]
    sig = parse_predict({"inputs": "x", "parameters": {"function_to_apply": "sigmoid"}}, False, 10)
    assert [e["score"] for e in answer(pred, row, LABELS, sig, 0.0)] == pytest.approx(
        [1 / (1 + np.exp(-x)) for x in row]
    )
    none = parse_predict({"inputs": "x", "parameters": {"function_to_apply": "none"}}, False, 10)
    assert [e["score"] for e in answer(pred, row, LABELS, none, 0.0)] == row


def test_tokenize_and_decode_bodies() -> None:
    from clf_runtime.serve.tokens import parse_decode, parse_tokenize

    assert parse_tokenize({"inputs": "x"}, 10).texts == ["x"]
    assert parse_tokenize({"inputs": ["x", "y"], "add_special_tokens": False}, 10).add_special_tokens is False
    assert parse_decode({"ids": [1, 2]}, 10, 5).ids == [[1, 2]]
    assert parse_decode({"ids": [[1], [2, 3]]}, 10, 5).ids == [[1], [2, 3]]
    for body in ({"ids": [5]}, {"ids": [-1]}, {"ids": [True]}, {"ids": "1"}, {"ids": [[1], []]}):
        with pytest.raises(RequestError):
            parse_decode(body, 10, 5)
    with pytest.raises(RequestError, match="prompts"):
        parse_tokenize({"inputs": "x", "prompt_name": "query"}, 10)
