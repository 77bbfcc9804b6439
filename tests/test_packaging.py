"""Packaging: one version for the two parts, and a runtime wheel with exactly four dependencies."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RUNTIME_DEPS = {"onnxruntime", "tokenizers", "numpy", "click"}
PARTS = ("runtime", "toolkit")


def project(part: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / part / "pyproject.toml").read_text())["project"]


def version_source() -> str:
    return runpy.run_path(str(ROOT / "runtime" / "src" / "clf_runtime" / "_version.py"))["__version__"]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The distributions built as wheels from this tree, as `make test-slim` and users build them."""
    out = tmp_path_factory.mktemp("wheels")
    parts = [str(ROOT / part) for part in PARTS]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), *parts],
        check=True,
        capture_output=True,
    )
    return {part: next(out.glob(f"clf_{part}-*.whl")) for part in PARTS}


def metadata(wheel: Path) -> tuple[str, list[str], list[str]]:
    """A wheel's METADATA text, its Requires-Dist lines without extras, and its file names."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text, names = z.read(name).decode(), z.namelist()
    requires = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line  # extras are optional
    ]
    return text, requires, names


def test_one_version_for_all_parts(wheels: dict[str, Path]) -> None:
    """The version is written once (clf_runtime/_version.py); the wheels carry it and pin each other to it."""
    version = version_source()
    for part in PARTS:
        assert "version" not in project(part), f"{part}/pyproject.toml types a version"
        text, requires, _ = metadata(wheels[part])
        assert f"\nVersion: {version}\n" in text, part
        pins = sorted(r for r in requires if r.startswith("clf-"))
        expected = {"runtime": [], "toolkit": ["clf-runtime"]}[part]
        assert pins == [f"{name}=={version}" for name in expected], part
    import clf_runtime

    assert clf_runtime.__version__ == version


def test_runtime_wheel_depends_on_four_packages_only(wheels: dict[str, Path]) -> None:
    _, requires, names = metadata(wheels["runtime"])
    deps = {re.split(r"[ <>=!;\[]", r)[0].lower() for r in requires}
    assert deps == RUNTIME_DEPS
    assert "clf_runtime/classifier.py" in names
    assert not any(n.startswith(("clf_train/", "clf_export/")) for n in names)


def test_serve_extra_brings_the_web_stack() -> None:
    serve = project("runtime")["optional-dependencies"]["serve"]
    assert {re.split(r"[ <>=!;\[]", r)[0].lower() for r in serve} == {
        "starlette",
        "uvicorn",
        "httptools",
        "prometheus-client",
    }
    assert project("runtime")["scripts"]["clf-serve"] == "clf_runtime.cli.serve:main"


def test_report_extra_brings_matplotlib_and_clf_eval_is_a_script() -> None:
    report = project("runtime")["optional-dependencies"]["report"]
    assert {re.split(r"[ <>=!;\[]", r)[0].lower() for r in report} == {"matplotlib"}
    assert project("runtime")["scripts"]["clf-eval"] == "clf_runtime.cli.eval:main"


def test_toolkit_wheel_holds_training_and_export(wheels: dict[str, Path]) -> None:
    text, _, names = metadata(wheels["toolkit"])
    assert "clf_train/handoff.py" in names and "clf_export/pipeline.py" in names
    assert "clf_train/sample_data/support_train.csv" in names
    assert not any(n.startswith("clf_runtime/") for n in names)
    assert {"Name: clf-toolkit"} <= set(text.splitlines())
