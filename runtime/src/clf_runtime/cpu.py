"""Which int8 arithmetic this CPU computes exactly, and whether an artifact's int8 variant needs more.

ONNX Runtime multiplies uint8 activations by int8 weights (u8×s8) with the fastest instruction the
CPU has. With VNNI (AVX-512 VNNI, AVX-VNNI, AMX) and on ARM64 the products are added in 32 bits and
the result is exact. On AVX2 and on AVX-512 without VNNI the kernel (`vpmaddubsw`) adds each pair
of products in a signed 16-bit register first, which saturates when two large products meet:
255 × 127 × 2 = 64,770 > 32,767. An artifact quantized with 8-bit int8 weights then computes other
logits there than the ones the export gate checked (measured on the test fixtures: max |Δlogit|
0.60 against 4e-7 for fp32, on an emulated AVX2 CPU).

Two weight encodings are exact on every CPU:
- int8 weights in 7 bits (`reduce_range`, |w| ≤ 64): 255 × 64 × 2 = 32,640 fits 16 bits;
- uint8 weights (u8×u8): every x86 kernel widens to 16 bits and adds in 32 (`vpmaddwd`).

clf-export's default target, "portable", is the first; `--target avx512_vnni` and `arm64` give
8-bit weights, exact only where this module's `exact_int8` says so.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The flags this module reads (Linux /proc/cpuinfo spelling), and numpy's names for those it knows.
FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")
_NUMPY_NAMES = {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512BW": "avx512bw", "AVX512VNNI": "avx512_vnni"}
#: Flags that give u8×s8 products a 32-bit sum (no 16-bit saturation).
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
#: For tests and for checking an artifact against another machine: a comma-separated flag list
#: (e.g. "avx2" or "arm64") that replaces what this CPU reports. Only the warning reads it.
OVERRIDE_ENV = "CLF_CPU_FLAGS"


@dataclass(frozen=True)
class Cpu:
    arch: str  # "x86_64", "arm64" or what platform.machine() says
    flags: frozenset[str]

    def describe(self) -> str:
        """E.g. "x86_64 (avx2 avx512f avx512bw avx512_vnni)"."""
        known = [f for f in FLAGS if f in self.flags]
        return f"{self.arch} ({' '.join(known) or 'none of ' + ', '.join(FLAGS)})"


@dataclass(frozen=True)
class Int8Arithmetic:
    """How an int8 variant multiplies: the operand types and whether weights use 7 bits."""

    weight_type: str  # "QInt8" or "QUInt8"
    activation_type: str = "QUInt8"
    reduce_range: bool = False

    @classmethod
    def of(cls, record: dict[str, Any] | None) -> Int8Arithmetic | None:
        """From a manifest's quantization record; None when it does not say (older artifacts)."""
        if not record or not isinstance(record.get("weight_type"), str):
            return None
        return cls(
            record["weight_type"],
            str(record.get("activation_type", "QUInt8")),
            bool(record.get("reduce_range", False)),
        )

    @property
    def portable(self) -> bool:
        """Exact on every CPU: no pair of products can overflow a 16-bit sum."""
        return self.weight_type == "QUInt8" or self.reduce_range


def exact_int8(arithmetic: Int8Arithmetic, cpu: Cpu) -> bool:
    """Whether `cpu` computes `arithmetic` as exactly as a VNNI CPU does (the export's reference)."""
    if arithmetic.portable or cpu.arch == "arm64":
        return True
    return bool(cpu.flags & VNNI_FLAGS)


def int8_problem(record: dict[str, Any] | None, cpu: Cpu | None = None) -> str | None:
    """Why this CPU computes an int8 variant (its manifest record) differently than where it was
    checked, with the fix; None when it computes it exactly or the record does not say."""
    arithmetic = Int8Arithmetic.of(record)
    cpu = cpu or this_cpu()
    if arithmetic is None or exact_int8(arithmetic, cpu):
        return None
    target = (record or {}).get("target", "?")
    return (
        f"this int8 model (target {target}: 8-bit weights) needs a CPU with VNNI, and this one "
        f"({cpu.describe()}) saturates its int8 sums, so its scores differ from the ones checked at "
        "export; re-export with clf-export --target portable (the default), or run --precision fp32"
    )


@functools.lru_cache(maxsize=1)
def this_cpu() -> Cpu:
    """This machine's architecture and the int8-relevant flags it reports."""
    arch = platform.machine().lower()
    arch = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(arch, arch)
    override = os.environ.get(OVERRIDE_ENV)
    if override is not None:
        given = {f.strip().lower() for f in override.split(",") if f.strip()}
        return Cpu("arm64" if "arm64" in given else "x86_64", frozenset(given & set(FLAGS)))
    return Cpu(arch, _numpy_flags() | _cpuinfo_flags())


def _numpy_flags() -> frozenset[str]:
    """numpy's own CPUID probe (x86 on Linux, macOS and Windows alike)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return frozenset()
    return frozenset(flag for name, flag in _NUMPY_NAMES.items() if features.get(name))


def _cpuinfo_flags() -> frozenset[str]:
    """AVX-VNNI and AMX, which numpy does not report: Linux's /proc/cpuinfo (elsewhere nothing)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[-1].split()) & {"avx_vnni", "amx_int8"}
    return frozenset()
