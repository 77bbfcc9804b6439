"""`clf-export [MODEL_DIR]`: export, optimize, quantize and check a trained model."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from clf_export.config import OPT_LEVELS, QUANTIZE_CHOICES, TARGETS, VARIANT_CHOICES, ExportConfig
from clf_runtime.cli import user_errors

DEFAULTS = ExportConfig()  # every option's default comes from the config dataclass


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_dir", type=click.Path(path_type=Path), default=DEFAULTS.model_dir, required=False)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=DEFAULTS.output, show_default=True)
@click.option(
    "--quantize",
    type=click.Choice(QUANTIZE_CHOICES),
    default=DEFAULTS.quantize,
    show_default=True,
    help="int8 (= int8-static): activation scales fixed at export on calibration texts "
    "(--calibration, else the validation texts), so a text's scores do not depend on its "
    "batch-mates; int8-dynamic: one scale per batch computed at run time (onnxruntime's "
    "quantize_dynamic); int8-per-row: one scale per token row (batch-independent, slower).",
)
@click.option(
    "--variants",
    type=click.Choice(VARIANT_CHOICES),
    default=DEFAULTS.variants,
    show_default=True,
    help="cpu: write only the variant the CPU runs (int8), for apps that run on CPU only; "
    "coreml: also write an unfused fp32 graph for the CoreML provider (not measured on a Mac yet).",
)
@click.option(
    "--search-budget",
    type=click.FloatRange(min=0),
    default=DEFAULTS.search_budget_s,
    show_default=True,
    help="Seconds to search for a mixed-precision int8 that passes the gate when int8 fails it.",
)
@click.option(
    "--optimize",
    type=click.Choice(OPT_LEVELS),
    default=DEFAULTS.optimize,
    show_default=True,
    help="ONNX Runtime fusions. O2 fuses attention and LayerNorm (contrib ops: CPU and CUDA run them, "
    "CoreML falls back to CPU for them).",
)
@click.option("--opset", type=click.IntRange(min=11), default=DEFAULTS.opset)
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    default=DEFAULTS.target,
    show_default=True,
    help="int8 weight encoding: portable is exact on every CPU; avx512_vnni/arm64 (8-bit weights) "
    "only on CPUs with VNNI or ARM64; auto: the fastest exact one on this machine.",
)
@click.option("--per-channel/--per-tensor", default=DEFAULTS.per_channel, show_default=True)
@click.option(
    "--calibration",
    "int8_texts",
    type=click.Path(path_type=Path),
    default=DEFAULTS.int8_texts,
    help="Texts to fix int8 activation scales on (default: the validation texts): a .txt file "
    "(one text per line) or CSV/TSV/JSONL with a text column.",
)
@click.option(
    "--calibration-samples",
    "int8_texts_limit",
    type=click.IntRange(min=1),
    default=DEFAULTS.int8_texts_limit,
    show_default=True,
    help="Calibrate on at most this many texts.",
)
@click.option(
    "--validation",
    type=click.Path(path_type=Path),
    default=DEFAULTS.validation,
    help="Labelled data for the gate (default: the split clf-train saved).",
)
@click.option(
    "--validation-samples",
    type=click.IntRange(min=1),
    default=DEFAULTS.validation_limit,
    show_default=True,
    help="Gate on a seeded sample of at most this many validation rows.",
)
@click.option(
    "--max-accuracy-drop",
    type=click.FloatRange(0, 1),
    default=DEFAULTS.max_accuracy_drop,
    show_default=True,
    help="Most the int8 metric may lose against fp32 (at least one example's worth, 1/n).",
)
@click.option("--max-length", type=click.IntRange(min=2), default=DEFAULTS.max_length)
@click.option("--force", is_flag=True, help="Write the artifact even if it fails the gate.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an output folder another clf tool wrote. A previous clf-export output is replaced "
    "without it; a folder holding files clf did not write is always refused.",
)
def main(
    model_dir: Path,
    output: Path,
    quantize: str,
    variants: str,
    search_budget: float,
    optimize: str,
    opset: int | None,
    target: str,
    per_channel: bool,
    int8_texts: Path | None,
    int8_texts_limit: int,
    validation: Path | None,
    validation_samples: int,
    max_accuracy_drop: float,
    max_length: int | None,
    force: bool,
    overwrite: bool,
) -> None:
    """Export MODEL_DIR (default ./clf-trained) to a checked clf artifact (default ./clf-model)."""
    with user_errors():
        config = ExportConfig(
            model_dir=model_dir,
            output=output,
            quantize=quantize,
            variants=variants,
            search_budget_s=search_budget,
            optimize=optimize,
            opset=opset,
            target=target,
            per_channel=per_channel,
            int8_texts=int8_texts,
            int8_texts_limit=int8_texts_limit,
            validation=validation,
            validation_limit=validation_samples,
            max_accuracy_drop=max_accuracy_drop,
            max_length=max_length,
            force=force,
            overwrite=overwrite,
        )
        _export(config)


def _export(config: ExportConfig) -> None:
    """Run the export with the libraries' noise silenced; print clf's own warnings, then the summary."""
    from clf_export import quiet
    from clf_export.pipeline import export

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.quiet_libraries()
        result = export(config)
    for w in caught:
        if issubclass(w.category, quiet.ExportWarning):
            click.echo(f"warning: {w.message}", err=True)
    click.echo(result.summary())
