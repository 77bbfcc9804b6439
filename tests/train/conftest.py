from __future__ import annotations

from pathlib import Path

import pytest
import tiny


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny random base models of three architectures (heads are replaced when training)."""
    out = {}
    for arch in ("bert", "distilbert", "roberta"):
        folder = tmp_path_factory.mktemp(f"base-{arch}")
        tiny.build_model(folder, arch=arch, labels=("a", "b"))
        out[arch] = folder
    return out
