"""The artifact's manifest (clf_runtime.artifact): built from the source model, written once.

While the export runs, the graphs are checked with the runtime that users will run, before the
artifact's own clf.json exists: `load_probe` links one graph and the tokenizer into a scratch folder
and writes a probe manifest there naming only that graph (so only it and the tokenizer are hashed).
The artifact's clf.json is written once, at the end, by `write_final`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from clf_export.source import SourceModel
from clf_runtime import TextClassifier, __version__
from clf_runtime.artifact import (
    MANIFEST_NAME,
    TOKENIZER_NAME,
    FileEntry,
    Manifest,
    Variant,
    check_file_name,
    validate_manifest,
)
from clf_runtime.errors import ArtifactError

#: The file each precision's graph has in the artifact folder.
VARIANT_FILES = {
    "fp32": "model.onnx",
    "int8": "model.int8.onnx",
    "fp16": "model.fp16.onnx",
    "fp32-unfused": "model.unfused.onnx",  # --variants coreml
}


def variant(precision: str) -> Variant:
    return Variant(precision, VARIANT_FILES[precision])


def provider_variants(quantized: str) -> dict[str, str]:
    """Which precision each provider runs, given the artifact's quantized precision (or fp32)."""
    # int8 is for CPU only: CUDA runs MatMulInteger on the host and CoreML has no int8 kernels.
    return {
        "cpu": "int8" if quantized == "int8" else "fp32",
        "cuda": "fp16" if quantized == "fp16" else "fp32",
        "coreml": "fp32",
    }


def template(src: SourceModel, inputs: tuple[str, ...]) -> Manifest:
    """What the manifest says about the model itself; variants and files come later."""
    return Manifest(
        task=src.task,
        labels=src.labels,
        max_length=src.max_length,
        inputs=inputs,
        variants=(variant("fp32"),),
        provider_variants={"cpu": "fp32"},
        text_pair=src.text_pair,
        thresholds=src.thresholds if src.task == "multi_label" else None,
        created_by=f"clf-export {__version__}",
        long_text=src.long_text,
        calibration=src.calibration,
    )


def _link(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # a file system without hard links
        shutil.copyfile(src, dest)


def load_probe(base: Manifest, folder: Path, scratch: Path, precision: str) -> TextClassifier:
    """The graph `folder/VARIANT_FILES[precision]`, loaded on CPU through a probe manifest in
    `scratch/probe-<precision>` (a folder of links), leaving `folder` without a clf.json."""
    probe = scratch / f"probe-{precision}"
    probe.mkdir(parents=True, exist_ok=True)
    v = variant(precision)
    for name in (TOKENIZER_NAME, v.file):
        _link(folder / name, probe / name)
    write_manifest(probe, replace(base, variants=(v,), provider_variants={"cpu": precision}))
    return TextClassifier.load(probe, provider="cpu", precision=precision, verify=False)


def write_final(
    folder: Path,
    base: Manifest,
    variants: list[Variant],
    metrics: dict[str, Any],
    quantization: dict[str, dict[str, Any]],
    cpu_only: bool,
) -> Manifest:
    """Write the artifact's clf.json (the one time it is written); with `cpu_only`, first delete
    the graphs the CPU does not run (--variants cpu: what a CPU app ships)."""
    pick = provider_variants(variants[-1].precision)
    if any(v.precision == "fp32-unfused" for v in variants):
        pick["coreml"] = "fp32-unfused"  # CoreML has no kernels for the fused contrib ops
    if cpu_only:
        keep = variant(pick["cpu"])
        for v in variants:
            if v.file != keep.file:
                (folder / v.file).unlink()
        variants, pick = [keep], {"cpu": keep.precision}
    manifest = replace(
        base, variants=tuple(variants), provider_variants=pick, metrics=metrics, quantization=quantization
    )
    return write_manifest(folder, manifest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Checksum every file the manifest names and write clf.json into `folder`.

    Returns the manifest with its `files` filled in. The manifest is validated with the same rules
    the runtime applies when loading, so an exporter cannot write one the runtime would refuse.
    """
    folder = Path(folder)
    # Files the manifest already lists (e.g. ONNX external data) are checksummed again too.
    names = list(dict.fromkeys([TOKENIZER_NAME, *(v.file for v in manifest.variants), *manifest.files]))
    files: dict[str, FileEntry] = {}
    for name in names:
        check_file_name(name, "cannot write the manifest")
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"cannot write the manifest: {path} does not exist")
        files[name] = FileEntry(sha256=sha256_file(path), bytes=path.stat().st_size)
    complete = Manifest(**{**manifest.__dict__, "files": files})
    text = json.dumps(complete.to_json(), indent=2, sort_keys=False)
    complete = validate_manifest(json.loads(text), "the manifest to write")
    (folder / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
    return complete
