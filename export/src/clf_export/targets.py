"""Which instruction set the int8 kernels will run on: `--target auto` resolved for this machine."""

from __future__ import annotations

import platform
from pathlib import Path

from clf_export.config import TARGETS
from clf_export.errors import ExportError


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


def resolve_target(target: str) -> str:
    """`target`, with auto replaced by this machine's; an unknown name is an ExportError."""
    if target == "auto":
        target = detect_target()
    if target not in TARGETS:
        raise ExportError(f"unknown --target {target!r}; choose one of {', '.join(TARGETS)}")
    return target
