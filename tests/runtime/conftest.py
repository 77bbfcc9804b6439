from __future__ import annotations

import hashlib
import json
import os
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


def edit_manifest(folder: Path, **changes) -> dict:
    """Set (or, with a value of ..., delete) top-level fields of folder/clf.json; returns the result."""
    path = folder / "clf.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def rehash(folder: Path, *names: str) -> None:
    """Record the current size and sha256 of each named file in folder/clf.json (adding new names)."""
    files = json.loads((folder / "clf.json").read_text(encoding="utf-8"))["files"]
    for name in names:
        data = (folder / name).read_bytes()
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    edit_manifest(folder, files=files)


def runtime_env() -> dict[str, str]:
    """Environment for a subprocess that must import this tree's clf_runtime."""
    import clf_runtime

    src = str(Path(clf_runtime.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
