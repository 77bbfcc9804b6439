"""int8 targets: how `--target` encodes the weights, and on which CPUs the result is exact.

The rule of which CPU computes what exactly lives in the runtime (clf_runtime.cpu), which checks
it again when a model is loaded; this table only names the encodings.

| target      | activations × weights | exact on                                 |
|-------------|-----------------------|------------------------------------------|
| portable    | u8 × s8, 7-bit weights | every CPU (the default)                 |
| avx2        | u8 × u8               | every CPU                                |
| avx512      | u8 × s8, 7-bit weights | every CPU (same encoding as portable)   |
| avx512_vnni | u8 × s8, 8-bit weights | VNNI (AVX-512 VNNI, AVX-VNNI, AMX), ARM64 |
| arm64       | u8 × s8, 8-bit weights | ARM64, VNNI                              |

Optimum's avx512 configuration has 8-bit weights, which saturate on exactly the AVX-512 CPUs it
names (no VNNI: ONNX Runtime's docs recommend reduce_range there); clf's avx512 uses 7 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

from clf_export.config import TARGETS
from clf_export.errors import ExportError
from clf_runtime.cpu import VNNI_FLAGS, Int8Arithmetic, this_cpu

#: The ops quantize_dynamic may quantize (Optimum's list for every CPU target; an op the graph lacks
#: is simply not there).
OP_TYPES = ("Conv", "MatMul", "Attention", "LSTM", "Gather", "Transpose", "EmbedLayerNormalization")


@dataclass(frozen=True)
class Target:
    name: str
    arithmetic: Int8Arithmetic


_U8S8_7BIT = Int8Arithmetic("QInt8", "QUInt8", reduce_range=True)
_U8S8 = Int8Arithmetic("QInt8", "QUInt8", reduce_range=False)
TABLE = {
    "portable": Target("portable", _U8S8_7BIT),
    "avx2": Target("avx2", Int8Arithmetic("QUInt8", "QUInt8", reduce_range=False)),
    "avx512": Target("avx512", _U8S8_7BIT),
    "avx512_vnni": Target("avx512_vnni", _U8S8),
    "arm64": Target("arm64", _U8S8),
}


def detect_target() -> str:
    """The fastest target this machine computes exactly (`--target auto`): 8-bit weights where
    the CPU has VNNI or is ARM64, otherwise portable. The artifact is then exact here, and the
    runtime warns wherever it is not."""
    cpu = this_cpu()
    if cpu.arch == "arm64":
        return "arm64"
    return "avx512_vnni" if cpu.flags & VNNI_FLAGS else "portable"


def resolve_target(target: str) -> Target:
    """`target`, with auto replaced by this machine's; an unknown name is an ExportError."""
    if target == "auto":
        target = detect_target()
    if target not in TABLE:
        raise ExportError(f"unknown --target {target!r}; choose one of {', '.join(TARGETS)}")
    return TABLE[target]
