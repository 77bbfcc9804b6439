"""Multi-label thresholds (clf_train.thresholds) and ROC-AUC on synthetic scores with known answers."""

from __future__ import annotations

import numpy as np

from clf_train import metrics as M
from clf_train.thresholds import global_threshold, micro_f1, tune


def separable(rows: int = 3000, cuts=(0.3, 0.5, 0.7, 0.2, 0.8), seed: int = 0):
    p = np.random.default_rng(seed).uniform(size=(rows, len(cuts)))
    return p, (p > np.asarray(cuts)).astype(np.float32)


def test_recovers_known_thresholds_when_every_label_has_many_positives() -> None:
    p, y = separable()
    t = tune(p, y, shrinkage=0.0)
    np.testing.assert_allclose(t, [0.3, 0.5, 0.7, 0.2, 0.8], atol=0.01)
    assert micro_f1(p, y, t) == 1.0
    # Shrinkage barely moves labels with hundreds of positives.
    np.testing.assert_allclose(tune(p, y, shrinkage=5.0), t, atol=0.01)


def test_global_threshold_is_the_exact_micro_f1_optimum() -> None:
    p, y = separable(cuts=(0.6, 0.6, 0.6))
    assert abs(global_threshold(p, y) - 0.6) < 0.01
    grid = np.linspace(0.01, 0.99, 99)
    assert micro_f1(p, y, global_threshold(p, y)) >= max(micro_f1(p, y, g) for g in grid)


def test_rare_label_keeps_about_the_global_threshold() -> None:
    p, y = separable(rows=2000, cuts=(0.4, 0.4, 0.4))
    rare = np.zeros((2000, 1), dtype=np.float32)
    rare[[5, 9], 0] = 1.0  # two positives: its own optimum would be fitted to two rows
    p = np.hstack([p, np.full((2000, 1), 0.05)])
    p[[5, 9], 3] = 0.06
    y = np.hstack([y, rare])
    t = tune(p, y, shrinkage=5.0)
    g = global_threshold(p, y)
    assert abs(t[3] - g) < abs(0.055 - g) * 0.5  # pulled most of the way to the global threshold
    no_positives = np.hstack([y[:, :3], np.zeros((2000, 1), dtype=np.float32)])
    assert abs(tune(p, no_positives, shrinkage=5.0)[3] - global_threshold(p, no_positives)) < 1e-9


def test_never_worse_on_validation_than_one_global_threshold() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = (rng.uniform(size=(60, 8)) < 0.15).astype(np.float32)
        p = np.clip(y * 0.3 + rng.uniform(size=y.shape) * 0.7, 0, 1)
        t = tune(p, y)
        assert micro_f1(p, y, t) >= micro_f1(p, y, global_threshold(p, y)) - 1e-12


def test_roc_auc_is_finite_with_a_label_without_positives() -> None:
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
    logits = np.array([[2.0, -1, 0], [-1, 2, 0], [1, 1, 0], [-2, -2, 0]])
    out = M.multi_label(logits, y, np.full(3, 0.5), ("a", "b", "c"))
    assert out["roc_auc_macro"] == 1.0 and out["roc_auc_labels"] == 2
