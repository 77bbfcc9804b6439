"""Packaging: one version for the three parts, and a runtime wheel with exactly four dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent
RUNTIME_DEPS = {"onnxruntime", "tokenizers", "numpy", "click"}


def project(part: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / part / "pyproject.toml").read_text())["project"]


def test_one_version_for_all_parts() -> None:
    versions = {part: project(part)["version"] for part in ("runtime", "export", "train")}
    assert len(set(versions.values())) == 1, versions
    pins = [
        d
        for part in ("export", "train")
        for d in project(part)["dependencies"]
        if d.startswith("clf-runtime")
    ]
    assert pins == [f"clf-runtime=={versions['runtime']}"] * 2


def test_runtime_wheel_depends_on_four_packages_only(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT / "runtime")],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("clf_runtime-*.whl")
    with zipfile.ZipFile(wheel) as z:
        metadata = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(metadata).decode()
        names = z.namelist()
    requires = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line  # extras are optional
    ]
    deps = {re.split(r"[ <>=!;\[]", r)[0].lower() for r in requires}
    assert deps == RUNTIME_DEPS
    assert "clf_runtime/classifier.py" in names
    assert not any(n.startswith(("clf_train/", "clf_export/")) for n in names)
