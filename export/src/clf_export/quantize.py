"""Graph optimization and quantization of an exported ONNX model.

Why not `ORTQuantizer.quantize` on the fused graph: on an O2-fused graph it fails with
"Unable to find data type for weight_name=..." (the fused nodes' outputs have no type info).
onnxruntime's `quantize_dynamic` with DefaultTensorType=FLOAT handles it, so we take the
instruction-set-specific settings from Optimum's AutoQuantizationConfig and apply them with it.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clf_export.errors import ExportError

TARGETS = ("auto", "avx512_vnni", "avx512", "avx2", "arm64")
OPT_LEVELS = ("O0", "O1", "O2", "O3")


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _no_preprocess_hint() -> Iterator[None]:
    """onnxruntime logs a pre-processing hint on the root logger at every call; it is not for users
    (shape inference is already done by the exporter and the optimizer)."""
    hint = _DropPreprocessHint()
    root = logging.getLogger()
    root.addFilter(hint)
    try:
        yield
    finally:
        root.removeFilter(hint)


def detect_target() -> str:
    """The instruction set int8 kernels will run on here."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "avx2"  # macOS/Windows x86: AVX2 is the safe common denominator
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def optimize(src: Path, dest_dir: Path, level: str) -> Path:
    """Apply ONNX Runtime transformer fusions at `level` (O0 = none); returns the new model path."""
    if level not in OPT_LEVELS:
        raise ExportError(f"unknown optimization level {level!r}; choose one of {', '.join(OPT_LEVELS)}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    if level == "O0":
        out = dest_dir / "model.onnx"
        shutil.copyfile(src / "model.onnx", out)
        return out
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig

    config = getattr(AutoOptimizationConfig, level)()
    optimizer = ORTOptimizer.from_pretrained(src)
    optimizer.optimize(save_dir=dest_dir, optimization_config=config)
    return dest_dir / "model_optimized.onnx"


def quantization_settings(target: str, per_channel: bool) -> dict[str, Any]:
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if target == "auto":
        target = detect_target()
    if target not in TARGETS:
        raise ExportError(f"unknown --target {target!r}; choose one of {', '.join(TARGETS)}")
    config = getattr(AutoQuantizationConfig, target)(is_static=False, per_channel=per_channel)
    return {
        "target": target,
        "weight_type": config.weights_dtype,
        "per_channel": config.per_channel,
        "reduce_range": config.reduce_range,
        "op_types": list(config.operators_to_quantize),
    }


def quantize_int8(src: Path, dest: Path, target: str, per_channel: bool) -> dict[str, Any]:
    """Dynamic int8: weights quantized ahead of time, activations per batch at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = quantization_settings(target, per_channel)
    weight_type = QuantType(settings["weight_type"])
    with _no_preprocess_hint():
        quantize_dynamic(
            model_input=src,
            model_output=dest,
            op_types_to_quantize=settings["op_types"],
            per_channel=settings["per_channel"],
            reduce_range=settings["reduce_range"],
            weight_type=weight_type,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return {**{k: str(v) for k, v in settings.items()}, "weight_type": weight_type.name, "mode": "dynamic"}


def quantize_int8_static(
    src: Path, dest: Path, feeds: Iterable[dict[str, Any]], per_channel: bool, samples: int
) -> dict[str, Any]:
    """Static int8 (QDQ): activation ranges calibrated on `feeds` (one dict of arrays per sample).

    `src` must be the unfused export: the QDQ quantizer needs every tensor's type, which fused
    contrib ops do not carry. ONNX Runtime fuses the QDQ graph itself when it loads it.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, Any] | None:
            return next(self._it, None)

    import onnx

    # ONNX shape inference gives every tensor a type. (onnxruntime's quant_pre_process does the
    # same but leaves temporary files in the current folder.)
    prepared = dest.with_suffix(".prep.onnx")
    onnx.shape_inference.infer_shapes_path(str(src), str(prepared))
    with _no_preprocess_hint():
        quantize_static(
            model_input=prepared,
            model_output=dest,
            calibration_data_reader=Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["MatMul", "Gemm"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    prepared.unlink()
    return {
        "mode": "static",
        "format": "QDQ",
        "calibration_samples": str(samples),
        "per_channel": str(per_channel),
    }


def convert_fp16(src: Path, dest: Path) -> dict[str, Any]:
    """fp16 weights and activations with fp32 inputs/outputs: for CUDA (and CoreML) providers."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    converted = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(converted, str(dest))
    return {"mode": "fp16", "keep_io_types": "True"}
