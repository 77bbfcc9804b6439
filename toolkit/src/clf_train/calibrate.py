"""Fit calibrated scores on the validation split and report how well they are calibrated.

Temperature scaling for single-label (and pair) models, per-label Platt scaling for multi-label
ones, fitted by minimizing the validation negative log-likelihood with scipy. The parameters go
into the manifest (clf_runtime.calibration applies them); the report gets ECE before and after,
a reliability diagram, and (single-label) a coverage-versus-accuracy table for picking --min-score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clf_runtime.calibration import ECE_BINS, Calibration, probabilities, task_ece

COVERAGE_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95)
# Below this many validation rows no calibration is fitted: on the sample data's 20 rows, all
# classified correctly, the NLL-optimal temperature ran to its bound (0.02) and every score to 1.00.
MIN_ROWS = 100
# Temperatures and Platt slopes stay within 4x either way: measured fits lay in 0.6-1.2.
LOG_SCALE_BOUND = float(np.log(4.0))
RELIABILITY_PNG = "reliability.png"


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 that minimizes the NLL of softmax(logits / T) on labels y (class ids)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    x = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(x / np.exp(log_t), axis=1)[rows, y].mean())

    # Searching log T keeps T positive; 1/4..4 bounds a fit on perfectly separated rows.
    bounds = (-LOG_SCALE_BOUND, LOG_SCALE_BOUND)
    best = minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-5})
    return float(np.exp(best.x))


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per label, a > 0 and b minimizing the NLL of sigmoid(a * logit + b) on 0/1 labels y."""
    from scipy.optimize import minimize
    from scipy.special import log_expit

    x = np.asarray(logits, dtype=np.float64)
    slopes, intercepts = [], []
    for j in range(x.shape[1]):
        xj, yj = x[:, j], np.asarray(y[:, j], dtype=np.float64)

        def nll(params: np.ndarray, xj: np.ndarray = xj, yj: np.ndarray = yj) -> float:
            z = np.exp(params[0]) * xj + params[1]
            return float(-(yj * log_expit(z) + (1 - yj) * log_expit(-z)).mean())

        # Bounds keep labels with no positives (or no negatives) from running off to infinity.
        bounds = [(-LOG_SCALE_BOUND, LOG_SCALE_BOUND), (-20.0, 20.0)]
        res = minimize(nll, np.zeros(2), method="L-BFGS-B", bounds=bounds)
        slopes.append(float(np.exp(res.x[0])))
        intercepts.append(float(res.x[1]))
    return tuple(slopes), tuple(intercepts)


def fit(logits: np.ndarray, y: np.ndarray, task: str) -> Calibration | None:
    """Calibration for a task's validation logits and label ids (None for regression or too few rows)."""
    if len(logits) < MIN_ROWS:
        return None
    if task == "single_label":
        return Calibration("temperature", temperature=fit_temperature(logits, y))
    if task == "multi_label":
        slopes, intercepts = fit_platt(logits, y)
        return Calibration("platt", slopes=slopes, intercepts=intercepts)
    return None


def coverage(logits: np.ndarray, y: np.ndarray, levels: tuple[float, ...] = COVERAGE_LEVELS) -> list[dict]:
    """For each min-score P: the share of inputs whose top calibrated score is >= P, accuracy on them."""
    probs = probabilities(logits, "single_label")
    top, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    rows = []
    for p in levels:
        kept = top >= p
        rows.append(
            {
                "min_score": p,
                "coverage": float(kept.mean()) if len(kept) else 0.0,
                "accuracy": float(correct[kept].mean()) if kept.any() else None,
            }
        )
    return rows


def summary(raw: np.ndarray, y: np.ndarray, task: str, calibration: Calibration | None) -> dict[str, Any]:
    """What metrics.json records: parameters, ECE before and after, coverage (single-label)."""
    if calibration is None:
        return {}
    calibrated = calibration.apply(raw.astype(np.float64))
    out: dict[str, Any] = {
        **calibration.to_json(),
        "ece_bins": ECE_BINS,
        "ece_before": task_ece(raw, y, task),
        "ece_after": task_ece(calibrated, y, task),
    }
    if task == "single_label":
        out["coverage"] = coverage(calibrated, y)
    return out


def render(name: str, info: dict[str, Any]) -> str:
    """The report.md section for one split's calibration summary."""
    if not info:
        return ""
    params = (
        f"temperature {info['temperature']:.3f}"
        if info["method"] == "temperature"
        else f"Platt scaling per label (slopes {min(info['slopes']):.2f}..{max(info['slopes']):.2f})"
    )
    lines = [
        f"## Calibration ({name})",
        "",
        f"{params}, fitted on the validation split. Expected calibration error ({info['ece_bins']} bins): "
        f"{info['ece_before']:.4f} before, {info['ece_after']:.4f} after. Diagram: {RELIABILITY_PNG}.",
        "",
    ]
    if info.get("coverage"):
        lines += [
            "Abstain below a score (clf-run --min-score P): share of inputs kept and their accuracy.",
            "",
            "| min score | kept | accuracy on kept |",
            "|---|---|---|",
        ]
        for row in info["coverage"]:
            acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
            lines.append(f"| {row['min_score']} | {row['coverage']:.4f} | {acc} |")
        lines.append("")
    return "\n".join(lines)


def plot_reliability(raw: np.ndarray, y: np.ndarray, task: str, calibration: Calibration, path: Path) -> None:
    """Accuracy against confidence per bin, before and after calibration; coverage vs accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    single = task != "multi_label"
    fig, axes = plt.subplots(1, 2 if single else 1, figsize=(10 if single else 5, 5), squeeze=False)
    ax = axes[0][0]
    ax.set_title("reliability")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    for name, logits in (("before", raw), ("after", calibration.apply(raw.astype(np.float64)))):
        probs = probabilities(logits, task)
        if task == "multi_label":
            conf, correct = probs.ravel(), np.asarray(y).ravel()
        else:
            conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
        which = np.clip(np.ceil(conf * ECE_BINS).astype(int) - 1, 0, ECE_BINS - 1)
        xs, ys = [], []
        for b in range(ECE_BINS):
            mask = which == b
            if mask.any():
                xs.append(conf[mask].mean())
                ys.append(np.asarray(correct, dtype=np.float64)[mask].mean())
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {task_ece(logits, y, task):.3f})")
    ax.set_xlabel("score")
    ax.set_ylabel("observed accuracy" if task != "multi_label" else "observed frequency")
    ax.legend()
    if single:  # coverage against accuracy when abstaining below a calibrated score
        levels = tuple(np.linspace(0.0, 0.99, 100))
        rows = coverage(calibration.apply(raw.astype(np.float64)), y, levels)
        right = axes[0][1]
        right.plot(
            [r["coverage"] for r in rows if r["accuracy"] is not None],
            [r["accuracy"] for r in rows if r["accuracy"] is not None],
        )
        right.set_title("abstain below a score (--min-score)")
        right.set_xlabel("share of inputs kept")
        right.set_ylabel("accuracy on kept inputs")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fit_and_report(
    logits: np.ndarray, test_logits: np.ndarray | None, data: Any
) -> tuple[Calibration | None, dict[str, Any]]:
    """Fit on the validation logits; summarize validation (in-sample) and test (held out) if any."""
    from clf_train.reference import label_ids

    y = label_ids(data.validation.labels, data.task, data.label_names)
    calibration = fit(logits, y, data.task)
    report = {"validation": summary(logits, y, data.task, calibration)}
    if test_logits is not None and data.test is not None:
        y_test = label_ids(data.test.labels, data.task, data.label_names)
        report["test"] = summary(test_logits, y_test, data.task, calibration)
    return calibration, (report if calibration is not None else {})


def thresholds_for(calibration: Calibration | None, thresholds: np.ndarray | None) -> list[float] | None:
    """Tuned multi-label thresholds moved onto the calibrated scale (the same decisions)."""
    if thresholds is None:
        return None
    if calibration is None:
        return np.asarray(thresholds).tolist()
    return calibration.map_thresholds(np.asarray(thresholds)).tolist()


def write_report(
    folder: Path, calibration: Calibration | None, report: dict[str, Any], logits: np.ndarray, data: Any
) -> None:
    """Append the calibration sections to report.md and draw the reliability diagram."""
    from clf_train.reference import label_ids

    if calibration is None:
        return
    y = label_ids(data.validation.labels, data.task, data.label_names)
    sections = [render(name, info) for name, info in report.items()]
    path = folder / "report.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + "\n".join(sections), encoding="utf-8")
    plot_reliability(logits, y, data.task, calibration, folder / RELIABILITY_PNG)
