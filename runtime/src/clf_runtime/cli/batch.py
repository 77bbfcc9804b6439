"""`clf-batch INPUT... --output DIR`: classify Parquet, CSV or JSONL tables into Parquet parts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from clf_runtime.artifact import PRECISIONS
from clf_runtime.batch import ENGINES, BatchConfig
from clf_runtime.cli import model_option, user_errors
from clf_runtime.defaults import default_model_dir

_DEFAULTS = BatchConfig(inputs=(), output=Path(), model=Path())


def _option_help(option: str, default: str) -> str:
    """What an engine-specific option means for each engine that takes it (from the engine table)."""
    return (
        "; ".join(f"{e.name}: {e.options[option]}" for e in ENGINES.values() if option in e.options)
        + f". {default}"
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, required=True, type=str)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), required=True, help="Folder of Parquet parts."
)
@model_option
@click.option("--text-column", default=_DEFAULTS.text_column, show_default=True)
@click.option("--pair-column", default=None, help="Column of the second texts (pair models).")
@click.option(
    "--engine",
    type=click.Choice(list(ENGINES)),
    default=_DEFAULTS.engine,
    show_default=True,
    help="Each needs its extra: "
    + ", ".join(f'{e.name}: pip install "clf-runtime[{e.extra}]"' for e in ENGINES.values()),
)
@click.option("--address", default=None, help=_option_help("address", "Default: a local cluster."))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help=_option_help("workers", "Default: one per CPU."),
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads per worker.")
@click.option("--batch-size", type=click.IntRange(min=1), default=_DEFAULTS.batch_size, show_default=True)
@click.option("--prefix", default=_DEFAULTS.prefix, help="Put before each prediction column's name.")
@click.option("--scores", is_flag=True, help="Add one score_<label> column per label.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Model variant to run. Default: the manifest's choice for CPU.",
)
def main(
    inputs: tuple[str, ...],
    output: Path,
    model: Path | None,
    text_column: str,
    pair_column: str | None,
    engine: str,
    address: str | None,
    workers: int | None,
    threads: int | None,
    batch_size: int,
    prefix: str,
    scores: bool,
    precision: str | None,
) -> None:
    """Classify the text column of INPUT files or folders (Parquet, CSV, JSONL) into --output.

    Every input column is kept and label/labels/value and score are added (null for a null,
    empty or blank text). The output folder gets Parquet parts and _SUCCESS, all at once when the
    run completes; an existing one is replaced only if clf-batch wrote everything in it. Each input
    file is read once (links, loops and repeats skipped, and said so); the output is never read.
    """
    config = BatchConfig(
        inputs=inputs,
        output=output,
        model=model if model is not None else default_model_dir(),
        text_column=text_column,
        pair_column=pair_column,
        engine=engine,
        address=address,
        workers=workers,
        threads=threads,
        batch_size=batch_size,
        prefix=prefix,
        scores=scores,
        precision=precision,
    )
    with user_errors():
        summary = _run(config)
    skipped = summary.get("skipped") or []
    for note in skipped[:10]:
        click.echo(f"skipped {note}", err=True)
    if len(skipped) > 10:
        click.echo(f"skipped {len(skipped) - 10} more inputs (listed in _clf_batch.json)", err=True)
    click.echo(
        f"{summary['rows']} rows classified into {config.output} in {summary['seconds']:.1f} s", err=True
    )


def _run(config: BatchConfig) -> dict:
    from clf_runtime import batch

    engine = ENGINES.get(config.engine)
    if engine is not None and not engine.in_process:
        _note_cpu(config)
    if not (engine is not None and engine.in_process and sys.stderr.isatty()):
        return batch.run(config)  # engines whose workers load the model show their own progress
    with click.progressbar(
        length=max(1, batch.total_bytes(config)), file=sys.stderr, label="classifying"
    ) as bar:
        done = [0]

        def progress(pos: int) -> None:
            if pos > done[0]:
                bar.update(pos - done[0])
                done[0] = pos

        return batch.run(config, progress)


def _note_cpu(config: BatchConfig) -> None:
    """Ray and Spark workers load the model (and warn in their own logs): say here too
    when this machine's CPU computes the int8 variant differently than the export checked it."""
    import warnings

    from clf_runtime.cpu import int8_problem
    from clf_runtime.errors import CpuWarning
    from clf_runtime.trust import load_manifest

    manifest = load_manifest(config.model)
    if (config.precision or manifest.provider_variants.get("cpu")) == "int8":
        problem = int8_problem(manifest.quantization.get("int8"))
        if problem:
            warnings.warn(problem, CpuWarning, stacklevel=2)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
