"""Every option of the export step: its default and its choices, in one place.

`clf-export` reads its defaults and choice lists from here (the click options name
`ExportConfig.<field>`), and `ExportConfig.check` refuses a choice outside them, so the library call
and the CLI cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clf_export.errors import ExportError
from clf_runtime.defaults import MODEL_DIR, TRAINED_DIR

#: int8 kinds, by --quantize name (the values are the modes `quantize.quantize_int8` implements):
#: activation scales fixed at export on calibration texts (the default: a text's scores do not
#: depend on its batch, at dynamic's speed), one scale per batch tensor computed at run time, or
#: per token row (batch-independent too; measured 1.5x the batch-1 latency of dynamic, see README).
QUANTIZE_INT8_MODE = {
    "int8": "static",
    "int8-static": "static",
    "int8-dynamic": "dynamic",
    "int8-per-row": "per-row",
}
QUANTIZE_CHOICES = ("none", *QUANTIZE_INT8_MODE, "fp16")
#: --variants: everything built; only the variant the CPU runs (a CPU app's smaller artifact); or
#: everything plus an unfused fp32 graph that the CoreML provider runs (it lacks the fused ops).
VARIANT_CHOICES = ("all", "cpu", "coreml")
#: --optimize: ONNX Runtime's transformer fusion levels (O0 = none).
OPT_LEVELS = ("O0", "O1", "O2", "O3")
#: --target: how int8 weights are encoded, i.e. which CPUs compute the model exactly
#: (clf_export.targets). portable: every CPU; auto: the fastest exact one on this machine.
TARGETS = ("portable", "auto", "avx512_vnni", "avx512", "avx2", "arm64")


@dataclass(frozen=True)
class ExportConfig:
    model_dir: Path = TRAINED_DIR
    output: Path = MODEL_DIR
    quantize: str = "int8"
    optimize: str = "O2"
    opset: int | None = None
    target: str = "portable"
    per_channel: bool = True
    int8_texts: Path | None = None  # --calibration: texts to fix static int8 scales on
    int8_texts_limit: int = 200  # --calibration-samples
    validation: Path | None = None
    validation_limit: int = 2000
    max_accuracy_drop: float = 0.01
    fp32_tolerance: float = 1e-3
    max_length: int | None = None
    force: bool = False
    overwrite: bool = False  # replace another clf tool's output folder (never a user's files)
    latency_runs: int = 30
    variants: str = "all"
    search_budget_s: float = 600.0  # int8 fallback search; 0 tries only the configured candidate

    def check(self) -> None:
        """Refuse choices outside the lists above (the CLI's click.Choice does the same)."""
        if self.quantize not in QUANTIZE_CHOICES:
            raise ExportError(f"unknown --quantize {self.quantize!r}; choose one of {QUANTIZE_CHOICES}")
        if self.variants not in VARIANT_CHOICES:
            raise ExportError(f"unknown --variants {self.variants!r}; choose one of {VARIANT_CHOICES}")

    @property
    def inputs(self) -> tuple[Path | None, ...]:
        """The paths export reads, which the output folder must not hold (clf_runtime.outdir)."""
        return (self.model_dir, self.validation, self.int8_texts)
