"""`export()`: the export step as one library call, a recipe of short named steps.

    graphs -> reference logits -> quantized variant -> gate -> measure and write clf.json once

Order matters: the artifact is assembled in a temporary folder, its graphs are loaded with the
runtime that users will run (through probe manifests, clf_export.manifest) and checked against
PyTorch, and only then is clf.json written and the folder renamed into place. A failed gate or an
exception leaves nothing behind (unless `force`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clf_export import gate, manifest, measure, quantize
from clf_export.config import QUANTIZE_CHOICES, QUANTIZE_INT8_MODE, VARIANT_CHOICES, ExportConfig
from clf_export.int8_search import Int8Build, build_int8
from clf_export.int8_texts import load_int8_texts
from clf_export.manifest import VARIANT_FILES
from clf_export.onnx_export import GRAPH_NAME, export_onnx, graph_inputs
from clf_export.optimize import optimize
from clf_export.source import read_source
from clf_export.tokenizer import save_tokenizer
from clf_export.validation_data import validation_set
from clf_runtime import TextClassifier
from clf_runtime.artifact import TOKENIZER_NAME, Manifest, Variant
from clf_runtime.outdir import check_output, output_folder
from clf_train.reference import folder_logits

__all__ = ["QUANTIZE_CHOICES", "VARIANT_CHOICES", "ExportConfig", "ExportResult", "export"]
Checks = dict[str, gate.VariantCheck]
OUTPUT_TOOL = "clf-export"  # the owner named in the output folder's marker (clf_runtime.outdir)


@dataclass
class ExportResult:
    output: Path
    manifest: Manifest
    checks: dict[str, gate.VariantCheck]
    sizes: dict[str, int]
    latency_ms: dict[str, float]
    problems: list[str] = field(default_factory=list)
    validation_source: str = ""

    def summary(self) -> str:
        lines = [f"artifact: {self.output}  (validation: {self.validation_source})"]
        lines.append(
            f"{'variant':<8} {'size':>10} {'max|Δlogit|':>12} {'agree':>7} {'metric':>16} {'p50 ms':>8}"
        )
        for p, c in self.checks.items():
            m = f"{c.metric_name}={c.metric:.4f}" if c.metric is not None else "-"
            lines.append(
                f"{p:<8} {self.sizes[p] / 1e6:>8.2f}MB {c.max_abs_diff:>12.2e} {c.agreement:>7.4f} "
                f"{m:>16} {self.latency_ms.get(p, float('nan')):>8.2f}"
            )
        lines += _search_summary(self.manifest.quantization.get("int8"))
        for problem in self.problems:
            lines.append(f"WARNING (forced): {problem}")
        return "\n".join(lines)


def _target_note(q: dict[str, Any]) -> str:
    """E.g. ", target portable (exact on every CPU)": the CPUs that compute the int8 graph exactly."""
    from clf_runtime.cpu import Int8Arithmetic

    arithmetic = Int8Arithmetic.of(q)
    if arithmetic is None:
        return ""
    where = "every CPU" if arithmetic.portable else "CPUs with VNNI and ARM64 only"
    return f", target {q.get('target')} (exact on {where})"


def _search_summary(q: dict[str, Any] | None) -> list[str]:
    if not q:
        return []
    lines = [f"int8: {q.get('mode')}, batch-independent: {q.get('batch_independent')}{_target_note(q)}"]
    lines += [f"  tried {t}" for t in q.get("search", [])]
    if q.get("search"):
        cost = q["cost_vs_all_int8"]
        lines.append(
            f"  kept in fp32: {', '.join(q['fp32_nodes']) or 'nothing'}; cost against all-int8: "
            f"{cost['bytes'] / 1e6:+.2f} MB, {cost['latency_ms_p50_batch1']:+.2f} ms at batch 1"
        )
    return lines


def export(config: ExportConfig) -> ExportResult:
    config.check()
    check_output(config.output, OUTPUT_TOOL, config.overwrite, config.inputs)
    recipe = ExportRecipe(config)
    with output_folder(config.output, OUTPUT_TOOL, config.overwrite, config.inputs) as folder:
        result = recipe.run(folder)
    return result


@dataclass
class _Built:
    """The artifact folder as the steps fill it."""

    folder: Path
    scratch: Path  # .work inside it: Optimum's raw export, optimizer output, probe manifests
    base: Manifest  # the manifest template (clf_export.manifest)
    variants: list[Variant] = field(default_factory=list)
    quantization: dict[str, Any] = field(default_factory=dict)  # the quantized variant's record
    checks: dict[str, gate.VariantCheck] = field(default_factory=dict)
    loaded: dict[str, TextClassifier] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class ExportRecipe:
    """The steps of `export()`; the constructor reads the inputs before any output is written."""

    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self.src = src = read_source(config.model_dir, config.max_length)
        self.data = validation_set(
            config.validation or src.validation,
            src.task,
            src.labels,
            src.text_pair,
            config.validation_limit,
            src.label_separator,
        )
        self.int8_texts = None  # texts to fix static int8 scales on (src.calibration: the scores')
        if config.int8_texts is not None:
            self.int8_texts = load_int8_texts(config.int8_texts, src.text_pair, config.int8_texts_limit)

    def run(self, folder: Path) -> ExportResult:
        built = self.graphs(folder, folder / ".work")
        yardstick = self.reference()
        self.quantize(built, yardstick)
        self.gate(built, yardstick)
        shutil.rmtree(built.scratch)
        return self.write(built)

    def graphs(self, folder: Path, work: Path) -> _Built:
        """ONNX export, graph optimization and the tokenizer: the fp32 variant."""
        export_onnx(self.src, work / "raw", self.config.opset)
        optimized = optimize(work / "raw", work / "opt", self.config.optimize)
        fp32 = manifest.variant("fp32")
        shutil.copyfile(optimized, folder / fp32.file)
        save_tokenizer(self.src.path, self.src.max_length, folder / TOKENIZER_NAME)
        base = manifest.template(self.src, graph_inputs(folder / fp32.file))
        variants = [fp32]
        if self.config.variants == "coreml":
            unfused = manifest.variant("fp32-unfused")
            shutil.copyfile(work / "raw" / GRAPH_NAME, folder / unfused.file)
            variants.append(unfused)
        return _Built(folder, work, base, variants=variants)

    def reference(self) -> gate.Yardstick:
        """PyTorch's logits on the validation texts: what every variant is checked against."""
        src, texts = self.src, self.data.texts
        logits = folder_logits(src.path, texts, src.max_length, long_text=src.long_text)
        thresholds = np.asarray(src.thresholds) if src.thresholds else np.full(len(src.labels), 0.5)
        return gate.Yardstick(self.data, logits, src.task, src.labels, thresholds, src.calibration)

    def quantize(self, built: _Built, yardstick: gate.Yardstick) -> None:
        """The quantized variant --quantize asks for (none: fp32 only)."""
        kind, folder = self.config.quantize, built.folder
        if kind in QUANTIZE_INT8_MODE:
            built.quantization, built.checks = self._int8(built, yardstick)
        elif kind == "fp16":
            dest = folder / VARIANT_FILES["fp16"]
            built.quantization = quantize.convert_fp16(folder / VARIANT_FILES["fp32"], dest)
        if kind != "none":
            built.variants.append(manifest.variant("fp16" if kind == "fp16" else "int8"))

    def _int8(self, built: _Built, yardstick: gate.Yardstick) -> tuple[dict[str, Any], Checks]:
        graph = built.folder / VARIANT_FILES["fp32"]
        if QUANTIZE_INT8_MODE[self.config.quantize] == "per-row":
            work = built.scratch
            graph = optimize(work / "raw", work / "opt-rows", self.config.optimize, separate_qkv=True)
        texts = self.int8_texts or self.data.texts[: self.config.int8_texts_limit]
        where = Int8Build(graph, built.folder, built.scratch, built.base, tuple(texts))
        # Judged on calibrated scores like the other variants: multi-label thresholds are on the
        # calibrated scale (on uncalibrated scores a GoEmotions model's fp32 micro-F1 read 0.159
        # instead of 0.534, and int8 was judged on that).
        return build_int8(self.config, where, yardstick)

    def gate(self, built: _Built, yardstick: gate.Yardstick) -> None:
        """Check every variant the CPU can run; a failure stops here (unless --force)."""
        for v in built.variants:
            if v.precision == "fp16":
                continue  # checked only where a provider runs it
            clf = manifest.load_probe(built.base, built.folder, built.scratch, v.precision)
            built.loaded[v.precision] = clf
            if v.precision not in built.checks:
                built.checks[v.precision] = yardstick.check(v.precision, clf.logits(self.data.texts))
        config, n = self.config, len(self.data.texts)
        built.problems = gate.judge(built.checks, config.fp32_tolerance, config.max_accuracy_drop, n)
        if built.problems and not config.force:
            raise gate.refusal(built.problems)

    def write(self, built: _Built) -> ExportResult:
        """Sizes, latency and the manifest, written once."""
        sizes = measure.sizes(built.folder, built.variants)
        text = self.data.texts[0] if self.data.texts else "hello"
        runs = self.config.latency_runs
        latency = {p: measure.latency_ms(clf, text, runs) for p, clf in built.loaded.items()}
        metrics = {"train": self.src.train_metrics, "export": self._record(built, sizes, latency)}
        quantized = built.variants[-1].precision
        record = {"int8": built.quantization} if quantized == "int8" else {}
        cpu_only = self.config.variants == "cpu"
        final = manifest.write_final(built.folder, built.base, built.variants, metrics, record, cpu_only)
        return ExportResult(
            Path(self.config.output), final, built.checks, sizes, latency, built.problems, self.data.source
        )

    def _record(self, built: _Built, sizes: dict[str, int], latency: dict[str, float]) -> dict[str, Any]:
        return {
            "validation": self.data.source,
            "validation_size": len(self.data.texts),
            "optimize": self.config.optimize,
            "quantization": built.quantization,
            "checks": {p: c.to_json() for p, c in built.checks.items()},
            "sizes_bytes": sizes,
            "latency_ms_p50_batch1_cpu": latency,
            "forced_past": built.problems,
        }
