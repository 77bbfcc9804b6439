"""Choosing an ONNX Runtime execution provider.

Users name providers by short names (cpu, cuda, coreml, auto). Asking for one this onnxruntime
build lacks is an error that lists what is available and what to install, rather than
onnxruntime's silent fallback to CPU.

`auto` picks CUDA, else CPU. CoreML runs only when asked: with transformer fusions ONNX Runtime's
CoreML provider is reported slower than its CPU provider (onnxruntime#28183) and it has no int8
kernels; nobody has measured it on a Mac for this project yet.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from clf_runtime.errors import ProviderError

ORT_NAMES = {
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
PREFERENCE = ("cuda", "coreml", "cpu")
AUTO_ORDER = ("cuda", "cpu")  # what `auto` may pick, best first
CHOICES = ("auto", *PREFERENCE)
INSTALL_HINT = {
    "cuda": "install onnxruntime-gpu instead of onnxruntime (pip uninstall onnxruntime && "
    "pip install onnxruntime-gpu) on a machine with an NVIDIA GPU and CUDA",
    "coreml": "use macOS with the standard onnxruntime wheel from PyPI, which includes CoreML",
    "cpu": "reinstall onnxruntime",
}


def available() -> list[str]:
    """Short names of the providers this onnxruntime build offers, in preference order."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [name for name in PREFERENCE if ORT_NAMES[name] in have]


def resolve(provider: str) -> str:
    """Turn 'auto' or a short name into an available short name, or raise ProviderError."""
    name = provider.lower().strip()
    if name not in CHOICES:
        raise ProviderError(f"unknown provider {provider!r}: choose one of {', '.join(CHOICES)}")
    have = available()
    if name == "auto":
        usable = [p for p in AUTO_ORDER if p in have]
        if not usable:
            raise ProviderError("onnxruntime offers no provider clf can use: reinstall onnxruntime")
        return usable[0]
    if name not in have:
        raise ProviderError(
            f"provider {name!r} is not available in this onnxruntime "
            f"(available: {', '.join(have) or 'none'}); to use it, {INSTALL_HINT[name]}"
        )
    return name


def session_providers(name: str) -> list[str]:
    """ONNX Runtime provider list for a short name; CPU stays last as fallback for unsupported nodes."""
    if name == "cpu":
        return [ORT_NAMES["cpu"]]
    return [ORT_NAMES[name], ORT_NAMES["cpu"]]


def usable_cpus() -> int:
    """CPUs this process may use: its CPU affinity and a container's CPU quota (cgroup v2 or v1),
    not the host's core count, which is what a thread pool sized from os.cpu_count() would use."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup's CFS quota, or None when unlimited or unknown."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()  # v2: "max 100000" or "200000 100000"
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v1
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
