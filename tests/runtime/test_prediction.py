"""Post-processing: plain-Python softmax/sigmoid per row agree with numpy and survive extreme logits."""

from __future__ import annotations

import numpy as np
import pytest

from clf_runtime.prediction import sigmoid, softmax, to_predictions

LABELS = ("a", "b", "c")


def test_single_label_matches_numpy_softmax() -> None:
    logits = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32) * 4
    preds = to_predictions(logits, "single_label", LABELS, np.full(3, 0.5))
    probs = softmax(logits.astype(np.float64))
    for p, row in zip(preds, probs, strict=True):
        assert p.label == LABELS[int(row.argmax())]
        assert list(p.scores.values()) == pytest.approx(row.tolist(), abs=1e-6)


def test_extreme_logits_do_not_overflow() -> None:
    logits = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    (single,) = to_predictions(logits, "single_label", LABELS, np.full(3, 0.5))
    assert single.label == "a" and single.score == pytest.approx(1.0)
    (multi,) = to_predictions(logits, "multi_label", LABELS, np.array([0.5, 0.5, 0.5]))
    assert multi.labels == ("a", "c")  # sigmoid(0) = 0.5 is at the threshold
    assert list(multi.scores.values()) == pytest.approx(sigmoid(logits.astype(np.float64))[0].tolist())


def test_regression_values() -> None:
    (p,) = to_predictions(np.array([[2.5]], dtype=np.float32), "regression", ("score",), np.full(1, 0.5))
    assert p.value == pytest.approx(2.5) and p.label is None and p.scores == {}
    (q,) = to_predictions(np.array([[1.0, 2.0]], dtype=np.float32), "regression", ("x", "y"), np.full(2, 0.5))
    assert q.value == 1.0 and q.scores == {"x": 1.0, "y": 2.0}


def test_prediction_is_read_only() -> None:
    (p,) = to_predictions(np.zeros((1, 3), np.float32), "single_label", LABELS, np.full(3, 0.5))
    with pytest.raises(AttributeError):
        p.label = "b"  # type: ignore[misc]
