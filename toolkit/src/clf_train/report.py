"""The training report: metrics.json is written by train(); this renders report.md and the PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clf_train import metrics as M


def table(rows: list[list[Any]], header: list[str]) -> str:
    def cell(x: Any) -> str:
        return f"{x:.4f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def headline(metrics: dict[str, Any] | None) -> list[list[Any]]:
    """Rows of (metric, value) for a table: clf_train.metrics.headline."""
    return [[k, v] for k, v in M.headline(metrics).items()]


def render(report: dict[str, Any], labels: tuple[str, ...], task: str) -> str:
    s = report["summary"]
    parts = [
        "# clf-train report",
        "",
        f"- base model: `{s['base_model']}`, method: **{s['method']}**, task: {s['task']}",
        f"- rows: {s['train_rows']} train, {s['validation_rows']} validation",
        f"- validation: {s.get('validation_source', 'given file')}; it chose the kept checkpoint"
        + (" and the thresholds, so its numbers are optimistic" if task == "multi_label" else "")
        + ". Only a test file (or the sample data's test split) measures unseen data.",
        f"- training time: {s['train_seconds']} s on {s['device']}",
        f"- trainable parameters: {s['trainable_params']:,} of {s['total_params']:,}",
        "",
    ]
    for name in ("validation", "test"):
        metrics = report.get(name)
        if not metrics:
            continue
        parts += [f"## {name.capitalize()}", "", table(headline(metrics), ["metric", "value"]), ""]
        if "at_0.5" in metrics:
            parts += ["Thresholds tuned for micro-F1 on this validation split; at 0.5 instead:", ""]
            parts += [table(headline(metrics["at_0.5"]), ["metric", "value"]), ""]
        per_class = metrics.get("per_class")
        if per_class:
            rows = [
                [
                    label,
                    per_class[label]["precision"],
                    per_class[label]["recall"],
                    per_class[label]["f1-score"],
                    int(per_class[label]["support"]),
                ]
                for label in labels
                if label in per_class
            ]
            parts += ["Per class:", "", table(rows, ["label", "precision", "recall", "f1", "support"]), ""]
        matrix = metrics.get("confusion_matrix")
        if matrix and len(labels) <= 20:
            rows = [[labels[i], *row] for i, row in enumerate(matrix)]
            parts += ["Confusion matrix (rows: true, columns: predicted):", ""]
            parts += [table(rows, ["", *labels]), ""]
    return "\n".join(parts)


def plot_confusion(matrix: list[list[int]], labels: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = min(4 + 0.3 * len(labels), 24)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7 if len(labels) > 20 else 9)
    ax.set_yticks(range(len(labels)), labels, fontsize=7 if len(labels) > 20 else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 20:
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(folder: Path, report: dict[str, Any], labels: tuple[str, ...], task: str) -> None:
    (folder / "report.md").write_text(render(report, labels, task), encoding="utf-8")
    best = report.get("test") or report.get("validation") or {}
    if "confusion_matrix" in best:
        plot_confusion(best["confusion_matrix"], labels, folder / "confusion_matrix.png")
