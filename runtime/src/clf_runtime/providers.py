"""Choosing an ONNX Runtime execution provider.

Users name providers by short names (cpu, cuda, coreml, auto). Asking for one this onnxruntime
build lacks is an error that lists what is available and what to install, rather than
onnxruntime's silent fallback to CPU.
"""

from __future__ import annotations

from clf_runtime.errors import ProviderError

ORT_NAMES = {
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ("cuda", "coreml", "cpu")
CHOICES = ("auto", *AUTO_ORDER)
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
    return [name for name in AUTO_ORDER if ORT_NAMES[name] in have]


def resolve(provider: str) -> str:
    """Turn 'auto' or a short name into an available short name, or raise ProviderError."""
    name = provider.lower().strip()
    if name not in CHOICES:
        raise ProviderError(f"unknown provider {provider!r}: choose one of {', '.join(CHOICES)}")
    have = available()
    if name == "auto":
        if not have:
            raise ProviderError("onnxruntime offers no provider clf can use: reinstall onnxruntime")
        return have[0]
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
