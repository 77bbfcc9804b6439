"""`clf-eval TEST_FILE`: score an artifact on a labelled test file (and compare it with another)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import click

from clf_runtime import providers
from clf_runtime.artifact import PRECISIONS
from clf_runtime.cli import model_option, user_errors
from clf_runtime.defaults import default_model_dir
from clf_runtime.evaluate import EvalConfig
from clf_runtime.long_text import STRATEGIES as LONG_TEXT_STRATEGIES


@dataclass(frozen=True)
class EvalRun:
    """What to score and where the report goes; `evaluation` says how."""

    test_file: Path
    model: Path
    evaluation: EvalConfig
    precision: str | None = None
    compare: Path | None = None
    compare_precision: str | None = None
    provider: str = "auto"
    threads: int | None = None
    json: bool = False
    report: Path | None = None


def run(config: EvalRun) -> dict:
    """Load the model(s), evaluate, print the report (text or JSON) and write --report DIR."""
    from clf_runtime.classifier import TextClassifier
    from clf_runtime.eval_report import check_plotting, finite, render_text, write_report
    from clf_runtime.evaluate import evaluate
    from clf_runtime.outdir import check_output

    inputs = [config.test_file, config.model, config.compare]
    if config.report is not None:
        check_output(config.report, "clf-eval", inputs=inputs)  # before the long part: fail fast
    clf = TextClassifier.load(config.model, config.provider, config.threads, config.precision)
    other = None
    if config.compare is not None:
        other = TextClassifier.load(config.compare, config.provider, config.threads, config.compare_precision)
    if config.report is not None:
        check_plotting(clf.task)
    report = evaluate(config.test_file, clf, config.evaluation, other)
    if config.report is not None:
        write_report(config.report, report, inputs=[p for p in inputs if p is not None])
    if config.json:
        click.echo(json.dumps(finite(report), ensure_ascii=False))
    else:
        click.echo(render_text(report), nl=False)
    aside = report["rows"]["set_aside"]
    if aside:
        counts = ", ".join(f"{v['count']} ({reason})" for reason, v in aside.items())
        click.echo(f"clf-eval: rows set aside, not scored: {counts}; --strict makes them an error", err=True)
    if config.report is not None:
        click.echo(f"clf-eval: wrote {config.report}{os.sep}report.md", err=True)
    return report


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("test_file", type=click.Path(path_type=Path))
@model_option
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Model variant to score. Default: the manifest's choice for the provider.",
)
@click.option("--text-column", default=EvalConfig.text_column, show_default=True)
@click.option("--text-pair-column", default=None, help="Second text of sentence pairs.")
@click.option("--label-column", default=EvalConfig.label_column, show_default=True)
@click.option(
    "--label-separator",
    default=EvalConfig.label_separator,
    show_default=True,
    help="Separates labels of multi-label rows.",
)
@click.option(
    "--long-text",
    type=click.Choice(LONG_TEXT_STRATEGIES),
    default=None,
    help="How to read texts longer than max_length (default: the manifest's).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=None,
    help="Single-label: also report coverage and accuracy where the top score is at least this.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on any row that cannot be scored (unknown, empty or malformed label, no text).",
)
@click.option(
    "--compare",
    type=click.Path(path_type=Path),
    default=None,
    help="A second artifact folder, scored on the same rows (B beside A = --model).",
)
@click.option(
    "--compare-precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Variant of --compare to score (e.g. --compare DIR --compare-precision fp32 beside int8).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--report",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help='Write report.md, report.json and PNG plots here (plots: pip install "clf-runtime[report]").',
)
@click.option(
    "--slowest",
    type=click.IntRange(min=0),
    default=EvalConfig.slowest,
    show_default=True,
    help="Inputs to time alone.",
)
@click.option(
    "--show", type=click.IntRange(min=0), default=EvalConfig.show, show_default=True, help="Rows per list."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=EvalConfig.batch_size, show_default=True)
@click.option("--provider", type=click.Choice(providers.CHOICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads.")
def main(
    test_file: Path,
    model: Path | None,
    precision: str | None,
    text_column: str,
    text_pair_column: str | None,
    label_column: str,
    label_separator: str,
    long_text: str | None,
    min_score: float | None,
    strict: bool,
    compare: Path | None,
    compare_precision: str | None,
    as_json: bool,
    report: Path | None,
    slowest: int,
    show: int,
    batch_size: int,
    provider: str,
    threads: int | None,
) -> None:
    """Score the artifact on TEST_FILE (CSV, TSV, JSONL or Parquet with text and label columns)."""
    if compare_precision is not None and compare is None:
        raise click.UsageError("--compare-precision needs --compare DIR")
    if not label_separator:
        raise click.BadParameter("must not be empty", param_hint="--label-separator")
    evaluation = EvalConfig(
        text_column=text_column,
        pair_column=text_pair_column,
        label_column=label_column,
        label_separator=label_separator,
        batch_size=batch_size,
        long_text=long_text,
        min_score=min_score,
        strict=strict,
        slowest=slowest,
        show=show,
    )
    config = EvalRun(
        test_file=test_file,
        model=model if model is not None else default_model_dir(),
        evaluation=evaluation,
        precision=precision,
        compare=compare,
        compare_precision=compare_precision,
        provider=provider,
        threads=threads,
        json=as_json,
        report=report,
    )
    with user_errors():
        run(config)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="clf-eval")
