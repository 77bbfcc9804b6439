"""`export()`: the whole export step as one library call.

Order matters: the artifact is assembled in a temporary folder, loaded back with the runtime that
users will run, checked against PyTorch, and only then renamed into place. A failed gate or an
exception leaves nothing behind (unless `force`).
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clf_export import gate, quantize, search
from clf_export.calibration import load_calibration
from clf_export.errors import ExportError, GateError
from clf_export.source import SourceModel, read_source
from clf_export.validation import ValidationSet, fallback, load_validation
from clf_runtime import TextClassifier, __version__
from clf_runtime.artifact import TOKENIZER_NAME, Manifest, Variant, write_manifest
from clf_runtime.defaults import MODEL_DIR, TRAINED_DIR
from clf_runtime.outdir import check_output, output_folder

log = logging.getLogger("clf_export")
QUANTIZE_CHOICES = ("none", "int8", "int8-dynamic", "int8-per-row", "int8-static", "fp16")
OUTPUT_TOOL = "clf-export"  # the owner named in the output folder's marker (clf_runtime.outdir)
#: int8 kinds: one activation scale per batch tensor (the default: fastest), or per token row
#: (batch-independent; measured 1.5x the batch-1 latency of dynamic, see README).
INT8_MODES = {"int8": "dynamic", "int8-dynamic": "dynamic", "int8-per-row": "per-row"}
#: --variants: everything built, or only the variant the CPU runs (a CPU app's smaller artifact).
VARIANT_CHOICES = ("all", "cpu")
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}


@dataclass(frozen=True)
class ExportConfig:
    model_dir: Path = TRAINED_DIR
    output: Path = MODEL_DIR
    quantize: str = "int8"
    optimize: str = "O2"
    opset: int | None = None
    target: str = "auto"
    per_channel: bool = True
    calibration: Path | None = None
    calibration_samples: int = 200
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
        q = self.manifest.quantization.get("int8")
        if q:
            lines.append(f"int8: {q.get('mode')}, batch-independent: {q.get('batch_independent')}")
            lines += [f"  tried {t}" for t in q.get("search", [])]
            if q.get("search"):
                cost = q["cost_vs_all_int8"]
                lines.append(
                    f"  kept in fp32: {', '.join(q['fp32_nodes']) or 'nothing'}; cost against all-int8: "
                    f"{cost['bytes'] / 1e6:+.2f} MB, {cost['latency_ms_p50_batch1']:+.2f} ms at batch 1"
                )
        for problem in self.problems:
            lines.append(f"WARNING (forced): {problem}")
        return "\n".join(lines)


def _onnx_export(src: SourceModel, dest: Path, opset: int | None) -> None:
    from optimum.exporters.onnx import main_export

    # Optimum logs and warns a lot about tracing; none of it is actionable for users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main_export(
                str(src.path),
                dest,
                task="text-classification",
                opset=opset,
                do_validation=False,
                device="cpu",
                local_files_only=True,
            )
        except OSError:
            raise  # disk full, permissions: the output folder's own message says what to do
        except Exception as exc:
            raise ExportError(f"Optimum could not export {src.path}: {type(exc).__name__}: {exc}") from exc


def _save_tokenizer(src: SourceModel, dest: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(src.path, use_fast=True)
    if not getattr(hf, "is_fast", False):
        raise ExportError(f"{src.path} has no fast tokenizer; the runtime needs tokenizer.json")
    tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=src.max_length)
    tok.save(str(dest))


def _validation_set(config: ExportConfig, src: SourceModel) -> ValidationSet:
    path = config.validation or src.validation
    if path is None:
        warnings.warn(
            "no labelled validation data (pass --validation): the gate checks agreement with "
            "PyTorch on a few built-in texts only",
            stacklevel=2,
        )
        return fallback(src.text_pair)
    return load_validation(
        path, src.task, src.labels, src.text_pair, config.validation_limit, src.label_separator
    )


def _latency_ms(clf: TextClassifier, text: Any, runs: int) -> float:
    for _ in range(5):
        clf.logits([text])
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        clf.logits([text])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def export(config: ExportConfig) -> ExportResult:
    if config.quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"unknown --quantize {config.quantize!r}; choose one of {QUANTIZE_CHOICES}")
    if config.quantize == "int8-static" and config.calibration is None:
        raise ExportError("--quantize int8-static needs --calibration PATH (texts to calibrate on)")
    inputs = (config.model_dir, config.validation, config.calibration)
    check_output(config.output, OUTPUT_TOOL, config.overwrite, inputs)
    if config.variants not in VARIANT_CHOICES:
        raise ExportError(f"unknown --variants {config.variants!r}; choose one of {VARIANT_CHOICES}")
    src = read_source(config.model_dir, config.max_length)
    data = _validation_set(config, src)
    calibration = None
    if config.calibration is not None:
        calibration = load_calibration(config.calibration, src.text_pair, config.calibration_samples)

    with output_folder(config.output, OUTPUT_TOOL, config.overwrite, inputs) as tmp:
        work = tmp / ".work"
        _onnx_export(src, work / "raw", config.opset)
        optimized = quantize.optimize(work / "raw", work / "opt", config.optimize)
        shutil.copyfile(optimized, tmp / VARIANT_FILES["fp32"])
        _save_tokenizer(src, tmp / TOKENIZER_NAME)
        inputs = _onnx_inputs(tmp / VARIANT_FILES["fp32"])

        reference = gate.torch_logits(src.path, data.texts, src.max_length, long_text=src.long_text)
        thresholds = np.asarray(src.thresholds) if src.thresholds else np.full(len(src.labels), 0.5)
        quant_info: dict[str, Any] = {}
        variants = [Variant("fp32", VARIANT_FILES["fp32"])]
        checks: dict[str, gate.VariantCheck] = {}
        if config.quantize in INT8_MODES:
            gated = _GateInputs(data, reference, thresholds)
            quant_info, checks = _int8_search(config, src, inputs, tmp, work, gated)
            variants.append(Variant("int8", VARIANT_FILES["int8"]))
        elif config.quantize == "int8-static":
            dest = tmp / VARIANT_FILES["int8"]
            probe = _manifest(src, inputs, [variants[0]], {"cpu": "fp32"})
            write_manifest(tmp, probe)
            probe_clf = TextClassifier.load(tmp, provider="cpu")
            feeds = [probe_clf.model_inputs([text]) for text in calibration or []]
            quant_info = quantize.quantize_int8_static(
                work / "raw" / "model.onnx", dest, feeds, config.per_channel, len(feeds)
            )
            variants.append(Variant("int8", VARIANT_FILES["int8"]))
        elif config.quantize == "fp16":
            quant_info = quantize.convert_fp16(tmp / "model.onnx", tmp / VARIANT_FILES["fp16"])
            variants.append(Variant("fp16", VARIANT_FILES["fp16"]))
        shutil.rmtree(work)

        quantized = variants[-1].precision
        # int8 is for CPU only: CUDA runs MatMulInteger on the host and CoreML has no int8 kernels.
        provider_variants = {
            "cpu": "int8" if quantized == "int8" else "fp32",
            "cuda": "fp16" if quantized == "fp16" else "fp32",
            "coreml": "fp32",
        }
        manifest = write_manifest(tmp, _manifest(src, inputs, variants, provider_variants))

        loaded: dict[str, TextClassifier] = {}
        for v in variants:
            if v.precision == "fp16":
                continue  # checked below only where a provider runs it
            clf = loaded[v.precision] = TextClassifier.load(tmp, provider="cpu", precision=v.precision)
            if v.precision not in checks:
                logits = clf.logits(data.texts)
                checks[v.precision] = gate.check_variant(
                    v.precision, logits, reference, data, src.task, src.labels, thresholds, src.calibration
                )
        problems = gate.judge(checks, config.fp32_tolerance, config.max_accuracy_drop, len(data.texts))
        if problems and not config.force:
            raise GateError("export failed the validation gate, nothing written: " + " | ".join(problems))

        sizes = {v.precision: (tmp / v.file).stat().st_size for v in variants}
        text = data.texts[0] if data.texts else "hello"
        latency = {p: _latency_ms(clf, text, config.latency_runs) for p, clf in loaded.items()}
        metrics = {
            "train": src.train_metrics,
            "export": {
                "validation": data.source,
                "validation_size": len(data.texts),
                "optimize": config.optimize,
                "quantization": quant_info,
                "checks": {p: c.to_json() for p, c in checks.items()},
                "sizes_bytes": sizes,
                "latency_ms_p50_batch1_cpu": latency,
                "forced_past": problems,
            },
        }
        if config.variants == "cpu":
            manifest = _cpu_only(tmp, manifest)
        extra = {"quantization": {"int8": quant_info}} if quantized == "int8" else {}
        manifest = write_manifest(tmp, Manifest(**{**manifest.__dict__, "metrics": metrics, **extra}))
    return ExportResult(
        output=Path(config.output),
        manifest=manifest,
        checks=checks,
        sizes=sizes,
        latency_ms=latency,
        problems=problems,
        validation_source=data.source,
    )


@dataclass(frozen=True)
class _GateInputs:
    data: ValidationSet
    reference: np.ndarray  # PyTorch logits on data.texts
    thresholds: np.ndarray


def _int8_search(
    config: ExportConfig, src: SourceModel, inputs: tuple[str, ...], tmp: Path, work: Path, gated: _GateInputs
) -> tuple[dict[str, Any], dict[str, gate.VariantCheck]]:
    """Quantize to int8, and when that fails the gate, search for a mixed-precision model that passes.

    Leaves the chosen model at tmp/model.int8.onnx; returns its quantization info and the gate's
    checks of fp32 and int8. Raises GateError, naming what it tried, when nothing passes (unless
    --force, which keeps the first candidate).
    """
    mode = INT8_MODES[config.quantize]
    graph = tmp / VARIANT_FILES["fp32"]
    if mode == "per-row":
        graph = quantize.optimize(work / "raw", work / "opt-rows", config.optimize, separate_qkv=True)
    data, n = gated.data, len(gated.data.texts)
    write_manifest(tmp, _manifest(src, inputs, [Variant("fp32", VARIANT_FILES["fp32"])], {"cpu": "fp32"}))
    fp32_logits = TextClassifier.load(tmp, provider="cpu").logits(data.texts)
    fp32 = gate.check_variant(
        "fp32", fp32_logits, gated.reference, data, src.task, src.labels, gated.thresholds
    )
    problems = gate.judge({"fp32": fp32}, config.fp32_tolerance, config.max_accuracy_drop, n)
    if problems and not config.force:  # no int8 search on top of a broken fp32 graph
        raise GateError("export failed the validation gate, nothing written: " + " | ".join(problems))
    both = [Variant("fp32", VARIANT_FILES["fp32"]), Variant("int8", VARIANT_FILES["int8"])]
    text = data.texts[0] if data.texts else "hello"

    def evaluate(candidate: search.Candidate) -> search.Trial:
        dest = tmp / VARIANT_FILES["int8"]
        info = quantize.quantize_int8(
            graph, dest, config.target, candidate.per_channel, mode, candidate.fp32_nodes
        )
        write_manifest(tmp, _manifest(src, inputs, both, {"cpu": "int8"}))
        clf = TextClassifier.load(tmp, provider="cpu", precision="int8", verify=False)
        logits = clf.logits(data.texts)
        check = gate.check_variant(
            "int8", logits, gated.reference, data, src.task, src.labels, gated.thresholds
        )
        problem = gate.quantized_problem(fp32, check, config.max_accuracy_drop, n)
        error = float(np.abs(logits - fp32_logits).mean()) if n else 0.0
        latency = _latency_ms(clf, text, max(config.latency_runs, 1))
        log.info("int8 candidate %s: %s", candidate.label, problem or "passes")
        details = {"info": info, "check": check}
        return search.Trial(candidate, problem, error, dest.stat().st_size, latency, details)

    start = time.monotonic()
    nodes = quantize.weight_nodes(graph)
    trials = search.search(nodes, evaluate, config.per_channel, config.search_budget_s)
    chosen = trials[-1]
    if chosen.problem is not None:
        tried = f"tried {len(trials)} int8 candidate(s) in {time.monotonic() - start:.0f} s: " + "; ".join(
            t.describe() for t in trials
        )
        if not config.force:
            raise GateError(
                f"export failed the validation gate, nothing written: {trials[0].problem}; {tried}; "
                "try a larger --max-accuracy-drop or --search-budget, or --quantize none to ship fp32 "
                "(--force writes the first candidate anyway)"
            )
        chosen = evaluate(trials[0].candidate)
    info = dict(chosen.details["info"])
    if len(trials) > 1:
        first = trials[0]
        info["search"] = [t.describe() for t in trials]
        info["cost_vs_all_int8"] = {
            "bytes": chosen.size - first.size,
            "latency_ms_p50_batch1": round(chosen.latency_ms - first.latency_ms, 4),
        }
    return info, {"fp32": fp32, "int8": chosen.details["check"]}


def _cpu_only(folder: Path, manifest: Manifest) -> Manifest:
    """Keep only the variant the CPU runs (--variants cpu): what a CPU app ships."""
    keep = manifest.variant_for("cpu")
    for v in manifest.variants:
        if v.file != keep.file:
            (folder / v.file).unlink()
    return Manifest(
        **{
            **manifest.__dict__,
            "variants": (keep,),
            "provider_variants": {"cpu": keep.precision},
            "files": {},
        }
    )


def _onnx_inputs(path: Path) -> tuple[str, ...]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return tuple(i.name for i in graph.input if i.name not in weights)


def _manifest(
    src: SourceModel, inputs: tuple[str, ...], variants: list[Variant], provider_variants: dict[str, str]
) -> Manifest:
    return Manifest(
        task=src.task,
        labels=src.labels,
        max_length=src.max_length,
        inputs=inputs,
        variants=tuple(variants),
        provider_variants=provider_variants,
        text_pair=src.text_pair,
        thresholds=src.thresholds if src.task == "multi_label" else None,
        created_by=f"clf-export {__version__}",
        long_text=src.long_text,
        calibration=src.calibration,
    )
