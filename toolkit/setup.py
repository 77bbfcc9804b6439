"""clf-toolkit's version and its exact pin on clf-runtime, read from the one place the version is
written: runtime/src/clf_runtime/_version.py. Everything else is in pyproject.toml.

Build from the repository (pip install -e ./toolkit, pip wheel ./toolkit, python -m build --wheel ./toolkit);
an sdist built from here carries the version in its PKG-INFO, which a build from the sdist reads.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent


def version() -> str:
    source = HERE.parent / "runtime" / "src" / "clf_runtime" / "_version.py"
    if source.is_file():
        return str(runpy.run_path(str(source))["__version__"])
    for line in (HERE / "PKG-INFO").read_text(encoding="utf-8").splitlines():  # inside an sdist
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"no clf version: neither {source} nor PKG-INFO")


VERSION = version()

setup(
    version=VERSION,
    install_requires=[
        f"clf-runtime=={VERSION}",
        "torch>=2.4",
        "transformers>=4.45,<4.58",
        # training
        "accelerate>=0.26",
        "peft>=0.13",
        "pandas>=2.0",
        "pyarrow>=14",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "matplotlib>=3.7",
        "safetensors>=0.4",
        # export
        "optimum>=2.0",
        "optimum-onnx>=0.1",
        "onnx>=1.16",
        "onnxruntime>=1.17",
        "numpy>=1.24",
        "click>=8.1",
    ],
)
