"""clf-eval's report (clf_runtime.evaluate's dict) as terminal text, as Markdown, and as plots.

The plots need matplotlib (the `report` extra), imported only by `write_plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEADLINE = {
    "single_label": [
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
    ],
    "multi_label": [
        "f1_micro",
        "precision_micro",
        "recall_micro",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "subset_accuracy",
    ],
    "regression": ["pearson", "spearman", "mse", "rmse", "mae"],
}
#: Confusion matrices with more labels than this are plotted, not printed.
MATRIX_TABLE_LIMIT = 20
SIGNIFICANCE = 0.05


def _num(x: Any, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:+.4f}" if signed else f"{x:.4f}"
    return str(x)


def _columns(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    """Rows as aligned text columns (first column left, the others right)."""
    cells = [[str(c) for c in header], *[[_num(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    left = [
        i == 0 or any(isinstance(row[i], str) and not _numeric(row[i]) for row in rows)
        for i in range(len(header))
    ]
    return [
        "  ".join(c.ljust(widths[i]) if left[i] else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
        for r in cells
    ]


def _numeric(cell: str) -> bool:
    try:
        float(cell.split(" ")[0])
        return True
    except ValueError:
        return False


def _md(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    def cell(x: Any) -> str:
        return _num(x).replace("|", "\\|")

    out = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]


# --- sections as (title, header, rows) ----------------------------------------------------------


def headline_rows(report: dict[str, Any]) -> list[list[Any]]:
    metrics = report["metrics"]
    return [[name, metrics[name]] for name in HEADLINE[report["model"]["task"]]]


def _per_label_rows(report: dict[str, Any]) -> list[list[Any]]:
    table = report["metrics"].get("per_class") or report["metrics"].get("per_label") or {}
    return [[name, v["precision"], v["recall"], v["f1"], v["support"]] for name, v in table.items()]


def _reliability_rows(report: dict[str, Any]) -> list[list[Any]]:
    return [
        [f"({r['low']:.2f}, {r['high']:.2f}]", r["count"], r["confidence"], r["accuracy"]]
        for r in report["calibration"]["reliability"]
    ]


def _coverage_rows(report: dict[str, Any]) -> list[list[Any]]:
    return [
        [f"{c['min_score']:g}" + (" (asked)" if c["asked"] else ""), c["coverage"], c["accuracy"], c["rows"]]
        for c in report["coverage"]
    ]


def _confused_rows(report: dict[str, Any]) -> list[list[Any]]:
    return [
        [c["true"], c["predicted"], f"{c['count']}" + (f" of {c['of']}" if "of" in c else "")]
        for c in report["confused"]
    ]


def _model_line(info: dict[str, Any]) -> str:
    calibration = info["calibration"] or "none"
    outputs = "outputs" if info["task"] == "regression" else "labels"
    return (
        f"{info['path']} ({info['task']}, {info['labels']} {outputs}, "
        f"{info['precision']} on {info['provider']}, "
        f"calibration {calibration}, long text {info['long_text']})"
    )


def set_aside_lines(report: dict[str, Any]) -> list[str]:
    rows = report["rows"]
    lines = []
    for reason, found in rows["set_aside"].items():
        where = ", ".join(map(str, found["rows"])) + (", ..." if found["count"] > len(found["rows"]) else "")
        lines.append(f"{found['count']} row{'s' if found['count'] > 1 else ''}: {reason} (data rows {where})")
    if rows["unknown_labels"]:
        names = ", ".join(f"{k!r} x{v}" for k, v in list(rows["unknown_labels"].items())[:10])
        lines.append(f"labels the model does not know: {names}")
    return lines


def _ece_title(report: dict[str, Any]) -> str:
    cal = report["calibration"]
    kind = "calibrated scores" if cal["calibrated"] else "raw scores: this model has no calibration"
    return f"Reliability (ECE {cal['ece']:.4f}, {kind})"


def _compare_rows(report: dict[str, Any]) -> list[list[Any]]:
    b = report["compare"]
    names = HEADLINE[report["model"]["task"]]
    rows = []
    for name in names:
        x, y = report["metrics"][name], b["metrics"][name]
        rows.append([name, x, y, "n/a" if x is None or y is None else f"{y - x:+.4f}"])
    return rows


def _compare_lines(report: dict[str, Any]) -> list[str]:
    c = report["compare"]
    lines = []
    if "agreement" in c:
        g = c["agreement"]
        lines.append(
            f"right: both {g['both_right']}, only A {g['only_a_right']}, only B {g['only_b_right']}, "
            f"neither {g['both_wrong']}"
        )
        m = c["mcnemar"]
        verdict = (
            "a real difference"
            if m["p_value"] < SIGNIFICANCE
            else "no evidence of a difference (could be noise)"
        )
        lines.append(
            f"McNemar's exact test: p = {m['p_value']:.4g} ({m['only_a_right']} rows only A gets right, "
            f"{m['only_b_right']} only B): {verdict} at {SIGNIFICANCE}"
        )
    else:
        lines.append(f"largest |A - B| on a row: {c['max_abs_difference']:.4g}")
    bs = c["bootstrap"]
    holds_zero = bs["low"] <= 0 <= bs["high"]
    lines.append(
        f"{bs['metric']} B - A: {bs['difference']:+.4f}, {bs['level']:.0%} paired bootstrap interval "
        f"[{bs['low']:+.4f}, {bs['high']:+.4f}] ({bs['resamples']} resamples)"
        + (": holds 0" if holds_zero else ": excludes 0")
    )
    return lines


def _differing_rows(report: dict[str, Any]) -> list[list[Any]]:
    def show(x: Any) -> str:
        if isinstance(x, list):
            return ",".join(x) or "(none)"
        return f"{x:.4g}" if isinstance(x, float) else str(x)

    return [
        [d["row"], show(d["truth"]), show(d["a"]), show(d["b"]), d["text"]]
        for d in report["compare"]["differing"]["rows"]
    ]


def _differing_title(report: dict[str, Any]) -> str:
    d = report["compare"]["differing"]
    regression = report["model"]["task"] == "regression"
    what = "rows whose value differs (largest first)" if regression else "rows whose answer differs"
    shown = f", the first {len(d['rows'])}" if d["count"] > len(d["rows"]) else ""
    return f"{what}: {d['count']}{shown}"


def _sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, header, rows) of each table, in the order both renderings show them."""
    task = report["model"]["task"]
    out: list[tuple[str, list[str], list[list[Any]]]] = [
        ("Metrics", ["metric", "value"], headline_rows(report))
    ]
    if task != "regression":
        title = "Per class" if task == "single_label" else "Per label (at the artifact's thresholds)"
        out.append((title, ["label", "precision", "recall", "f1", "support"], _per_label_rows(report)))
        out.append(
            (_ece_title(report), ["score bin", "rows", "confidence", "observed"], _reliability_rows(report))
        )
    if task == "single_label":
        out.append(
            (
                "Coverage and accuracy at a minimum score",
                ["min score", "coverage", "accuracy", "rows"],
                _coverage_rows(report),
            )
        )
    if task != "regression" and report["confused"]:
        out.append(
            ("Most confused (true -> predicted)", ["true", "predicted", "rows"], _confused_rows(report))
        )
    if task == "regression":
        rows = [[e["row"], e["truth"], e["predicted"], e["text"]] for e in report["largest_errors"]]
        out.append(("Largest errors", ["row", "truth", "predicted", "text"], rows))
    if report["slowest"]:
        rows = [[s["row"], f"{s['ms']:.3g}", s["chars"], s["text"]] for s in report["slowest"]]
        out.append(
            ("Slowest inputs (each alone, batch 1, median of 3)", ["row", "ms", "chars", "text"], rows)
        )
    return out


def _intro(report: dict[str, Any]) -> list[str]:
    rows = report["rows"]
    speed = report["speed"]
    lines = [
        f"test file: {report['test_file']}: {rows['scored']} of {rows['total']} rows scored",
        f"model: {_model_line(report['model'])}",
    ]
    lines += [f"set aside: {line}" for line in set_aside_lines(report)]
    if report["inputs_too_long"]:
        strategy = report["model"]["long_text"]
        how = (
            "were truncated (--long-text windows or head-tail reads them whole)"
            if strategy == "truncate"
            else f"were read with the {strategy} strategy"
        )
        lines.append(f"{report['inputs_too_long']} inputs were longer than the model's max length and {how}")
    if speed["inputs_per_second"]:
        lines.append(
            f"speed: {rows['scored']} inputs in {speed['seconds']:.2f} s "
            f"({speed['inputs_per_second']:.0f}/s at batch {speed['batch_size']})"
        )
    return lines


def render_text(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    lines = _intro(report)
    for title, header, rows in _sections(report):
        lines += ["", f"{title}:", *("  " + line for line in _columns(rows, header))]
    if "compare" in report:
        lines += [
            "",
            f"Compared: A = {_model_line(report['model'])}",
            f"          B = {_model_line(report['compare']['model'])}",
        ]
        lines += ["  " + line for line in _columns(_compare_rows(report), ["metric", "A", "B", "B - A"])]
        lines += ["  " + line for line in _compare_lines(report)]
        lines += ["", _differing_title(report)]
        if report["compare"]["differing"]["rows"]:
            lines += [
                "  " + line for line in _columns(_differing_rows(report), ["row", "truth", "A", "B", "text"])
            ]
    return "\n".join(lines) + "\n"


def render_markdown(report: dict[str, Any], plots: Sequence[str] = ()) -> str:
    """report.md: the same tables, the confusion matrix, and links to the plots written beside it."""
    lines = ["# clf-eval report", "", *(f"- {line}" for line in _intro(report))]
    for title, header, rows in _sections(report):
        lines += ["", f"## {title}", "", *_md(rows, header)]
        if title.startswith("Reliability") and "reliability.png" in plots:
            lines += ["", "![reliability](reliability.png)"]
    matrix = report["metrics"].get("confusion_matrix")
    if matrix is not None:
        lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
        labels = _matrix_labels(report)
        if len(labels) <= MATRIX_TABLE_LIMIT:
            lines += _md([[label, *matrix[i]] for i, label in enumerate(labels)], ["", *labels])
        if "confusion_matrix.png" in plots:
            lines += ["", "![confusion matrix](confusion_matrix.png)"]
    if "compare" in report:
        lines += [
            "",
            "## Compared",
            "",
            f"- A: {_model_line(report['model'])}",
            f"- B: {_model_line(report['compare']['model'])}",
            "",
        ]
        lines += _md(_compare_rows(report), ["metric", "A", "B", "B - A"])
        lines += ["", *(f"- {line}" for line in _compare_lines(report))]
        if report["compare"]["differing"]["rows"]:
            lines += ["", f"### {_differing_title(report)}", ""]
            lines += _md(_differing_rows(report), ["row", "truth", "A", "B", "text"])
    return "\n".join(lines) + "\n"


def _matrix_labels(report: dict[str, Any]) -> list[str]:
    return list(report["labels"])


# --- files --------------------------------------------------------------------------------------


def _pyplot():  # type: ignore[no-untyped-def]
    from clf_runtime.errors import InputError

    try:
        import matplotlib
    except ImportError as exc:
        raise InputError(
            '--report draws its plots with matplotlib: pip install "clf-runtime[report]"'
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_plotting(task: str) -> None:
    """Fail before the evaluation, not after it, when --report needs matplotlib and it is missing."""
    if task != "regression":
        _pyplot()


def write_plots(folder: Path, report: dict[str, Any]) -> list[str]:
    """confusion_matrix.png (single-label) and reliability.png (classification); their names."""
    if report["model"]["task"] == "regression":
        return []
    plt = _pyplot()
    names = []
    matrix = report["metrics"].get("confusion_matrix")
    if matrix is not None:
        labels = _matrix_labels(report)
        size = min(4 + 0.3 * len(labels), 24)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(matrix, cmap="Blues")
        font = 7 if len(labels) > MATRIX_TABLE_LIMIT else 9
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font)
        ax.set_yticks(range(len(labels)), labels, fontsize=font)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if len(labels) <= MATRIX_TABLE_LIMIT:
            for i, row in enumerate(matrix):
                for j, v in enumerate(row):
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "confusion_matrix.png", dpi=100)
        plt.close(fig)
        names.append("confusion_matrix.png")
    table = report["calibration"]["reliability"]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.plot([r["confidence"] for r in table], [r["accuracy"] for r in table], marker="o", label="this model")
    ax.set_xlabel("score" if report["model"]["task"] == "multi_label" else "top score")
    ax.set_ylabel("observed rate" if report["model"]["task"] == "multi_label" else "accuracy")
    ax.set_title(f"ECE {report['calibration']['ece']:.4f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=100)
    plt.close(fig)
    names.append("reliability.png")
    return names


def write_report(dest: Path, report: dict[str, Any], inputs: Sequence[Path] = ()) -> None:
    """report.md, report.json and the plots into the folder `dest`, written whole (clf_runtime.outdir):
    an existing `dest` is replaced only when clf-eval wrote it."""
    import json

    from clf_runtime.outdir import output_folder

    with output_folder(dest, "clf-eval", inputs=inputs) as tmp:
        plots = write_plots(tmp, report)
        (tmp / "report.md").write_text(render_markdown(report, plots), encoding="utf-8")
        (tmp / "report.json").write_text(
            json.dumps(finite(report), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def finite(obj: Any) -> Any:
    """obj with every NaN or infinity as None (strict JSON)."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj
