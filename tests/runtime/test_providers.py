"""Provider choice and the default thread count."""

from __future__ import annotations

import os

import pytest

from clf_runtime import providers
from clf_runtime.errors import ProviderError


def test_auto_never_picks_coreml(monkeypatch) -> None:
    import onnxruntime as ort

    offered = ["CoreMLExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: offered)
    assert providers.resolve("auto") == "cpu"  # CoreML only when asked
    assert providers.resolve("coreml") == "coreml"
    offered.insert(0, "CUDAExecutionProvider")
    assert providers.resolve("auto") == "cuda"
    with pytest.raises(ProviderError, match="unknown provider"):
        providers.resolve("tpu")


def test_usable_cpus_respects_affinity() -> None:
    count = providers.usable_cpus()
    assert 1 <= count <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert count <= len(os.sched_getaffinity(0))
