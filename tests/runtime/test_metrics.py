"""clf_runtime.metrics against scikit-learn and scipy on random data (those need the full install)."""

from __future__ import annotations

import numpy as np
import pytest

from clf_runtime import metrics as M
from clf_runtime.calibration import ece


def _random_single(seed: int, n: int = 400, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    pred[pred == k - 1] = 0  # one class never predicted: precision's zero division
    return y, pred


def test_classification_by_hand() -> None:
    out = M.classification(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), ["a", "b", "c", "d"])
    assert out["accuracy"] == 0.5
    assert out["per_class"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert out["per_class"]["b"]["precision"] == pytest.approx(1 / 3)
    assert out["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert "d" not in out["per_class"]  # neither true nor predicted
    assert out["recall_macro"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert out["confusion_matrix"][0] == [1, 1, 0, 0]


@pytest.mark.full
@pytest.mark.parametrize("seed", range(5))
def test_classification_matches_sklearn(seed: int) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    y, pred = _random_single(seed)
    names = [f"c{i}" for i in range(6)]
    out = M.classification(y, pred, names)
    report = sk.classification_report(y, pred, target_names=names, output_dict=True, zero_division=0)
    assert out["accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-12)
    for name in names:
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert out["per_class"][name][ours] == pytest.approx(report[name][theirs], abs=1e-12)
        assert out["per_class"][name]["support"] == report[name]["support"]
    for avg in ("macro", "weighted"):
        p, r, f, _ = sk.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert (out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"]) == pytest.approx((p, r, f))
    assert out["confusion_matrix"] == sk.confusion_matrix(y, pred, labels=range(6)).tolist()


@pytest.mark.full
@pytest.mark.parametrize("seed", range(5))
def test_multi_label_matches_sklearn(seed: int) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.random((300, 5)) < 0.3
    pred = np.where(rng.random((300, 5)) < 0.7, y, rng.random((300, 5)) < 0.3)
    pred[:, 4] = False  # a label never predicted
    out = M.multi_label(y, pred, list("abcde"))
    for avg in ("micro", "macro"):
        p, r, f, _ = sk.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert (out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"]) == pytest.approx((p, r, f))
    p, r, f, s = sk.precision_recall_fscore_support(y, pred, average=None, zero_division=0)
    for i, name in enumerate("abcde"):
        row = out["per_label"][name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i])
        )
    assert out["subset_accuracy"] == pytest.approx(sk.accuracy_score(y, pred))


@pytest.mark.full
@pytest.mark.parametrize("seed", range(5))
def test_regression_matches_sklearn_and_scipy(seed: int) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.7, size=200)
    pred[:20] = np.round(pred[:20])  # ties for Spearman's average ranks
    out = M.regression(pred, y)
    assert out["mse"] == pytest.approx(sk.mean_squared_error(y, pred))
    assert out["mae"] == pytest.approx(sk.mean_absolute_error(y, pred))
    assert out["pearson"] == pytest.approx(stats.pearsonr(pred, y)[0])
    assert out["spearman"] == pytest.approx(stats.spearmanr(pred, y)[0])
    assert M.rank(pred).tolist() == pytest.approx(stats.rankdata(pred).tolist())


def test_regression_constant_predictions_have_no_correlation() -> None:
    out = M.regression(np.ones(5), np.arange(5.0))
    assert out["pearson"] is None and out["spearman"] is None
    assert out["mse"] == pytest.approx(np.mean((1 - np.arange(5.0)) ** 2))


def test_rank_ties_by_hand() -> None:
    assert M.rank(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_reliability_table_adds_up_to_ece() -> None:
    rng = np.random.default_rng(0)
    conf = rng.random(500)
    correct = rng.random(500) < conf**2
    table = M.reliability(conf, correct)
    assert sum(row["count"] for row in table) == 500
    weighted = sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in table) / 500
    assert weighted == pytest.approx(ece(conf, correct))


def test_mcnemar_by_hand() -> None:
    # 5 rows only A gets right, 1 only B: p = 2 * P(X <= 1), X ~ Binomial(6, 0.5) = 2 * 7/64.
    a = np.array([1, 1, 1, 1, 1, 0, 1, 0], dtype=bool)
    b = np.array([0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    out = M.mcnemar(a, b)
    assert (out["only_a_right"], out["only_b_right"]) == (5, 1)
    assert out["p_value"] == pytest.approx(14 / 64)
    assert M.mcnemar(a, a)["p_value"] == 1.0


@pytest.mark.full
@pytest.mark.parametrize(("only_a", "only_b"), [(0, 3), (40, 61), (700, 760)])
def test_mcnemar_matches_scipy(only_a: int, only_b: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    a = np.r_[np.ones(only_a), np.zeros(only_b), np.ones(10)].astype(bool)
    b = np.r_[np.zeros(only_a), np.ones(only_b), np.ones(10)].astype(bool)
    expected = stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
    assert M.mcnemar(a, b)["p_value"] == pytest.approx(expected, rel=1e-9)


def test_bootstrap_interval_holds_the_difference_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    a = (rng.random(300) < 0.7).astype(float)[:, None]
    b = (rng.random(300) < 0.8).astype(float)[:, None]
    out = M.bootstrap_difference(a, b, M.mean_of_first, resamples=500)
    assert out["difference"] == pytest.approx(b.mean() - a.mean())
    assert out["low"] < out["difference"] < out["high"]
    assert out == M.bootstrap_difference(a, b, M.mean_of_first, resamples=500)
    same = M.bootstrap_difference(a, a, M.mean_of_first, resamples=200)
    assert same["low"] == same["high"] == 0.0


def test_micro_f1_statistic_matches_multi_label() -> None:
    rng = np.random.default_rng(2)
    y = rng.random((50, 4)) < 0.4
    p = rng.random((50, 4)) < 0.4
    parts = np.stack([(y & p).sum(1), (~y & p).sum(1), (y & ~p).sum(1)], axis=1)
    assert M.micro_f1(parts.sum(0)[None], 50)[0] == pytest.approx(
        M.multi_label(y, p, list("abcd"))["f1_micro"]
    )
