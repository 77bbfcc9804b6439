"""Graph optimization: ONNX Runtime's transformer fusions on the exported graph (via Optimum).

O2, the default, fuses attention and LayerNorm into contrib ops that CPU and CUDA run (CoreML falls
back to CPU for them). Per-row int8 asks for the attention fused as MultiHeadAttention fed by three
separate MatMuls instead of the packed Attention op, so that each projection gets its own per-row
activation scale (see clf_export.quantize).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from clf_export.config import OPT_LEVELS
from clf_export.errors import ExportError
from clf_export.onnx_export import GRAPH_NAME


def optimize(src: Path, dest_dir: Path, level: str, separate_qkv: bool = False) -> Path:
    """Apply ONNX Runtime transformer fusions at `level` (O0 = none) to the export in folder `src`;
    returns the new model path.

    separate_qkv: fuse attention into MultiHeadAttention fed by three MatMuls instead of the packed
    Attention op (what per-row int8 needs).
    """
    if level not in OPT_LEVELS:
        raise ExportError(f"unknown optimization level {level!r}; choose one of {', '.join(OPT_LEVELS)}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    if level == "O0":
        out = dest_dir / GRAPH_NAME
        shutil.copyfile(src / GRAPH_NAME, out)
        return out
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig

    config = getattr(AutoOptimizationConfig, level)()
    if separate_qkv:
        _fuse_multi_head_attention(config)
    optimizer = ORTOptimizer.from_pretrained(src)
    optimizer.optimize(save_dir=dest_dir, optimization_config=config)
    return dest_dir / "model_optimized.onnx"  # the name Optimum's optimizer writes


def _fuse_multi_head_attention(config: Any) -> None:
    # Optimum's config has no switch for onnxruntime's use_multi_head_attention fusion option.
    make_options = config.create_fusion_options

    def with_mha(model_type: str) -> Any:
        options = make_options(model_type)
        options.use_multi_head_attention = True
        return options

    config.create_fusion_options = with_mha
