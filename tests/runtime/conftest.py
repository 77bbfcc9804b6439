from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


def fixture_path(name: str) -> Path:
    return FIXTURES / name / "artifact"


def expected(name: str) -> tuple[list, list]:
    data = json.loads((FIXTURES / name / "expected.json").read_text(encoding="utf-8"))
    inputs = [tuple(x) if isinstance(x, list) else x for x in data["inputs"]]
    return inputs, data["logits"]


@pytest.fixture
def artifact_copy(tmp_path: Path):
    """A writable copy of a fixture artifact, for tests that damage it."""

    def make(name: str = "tiny-bert") -> Path:
        dest = tmp_path / name
        shutil.copytree(fixture_path(name), dest)
        return dest

    return make
