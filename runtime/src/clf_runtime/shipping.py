"""Send a model to workers that share no file system with the driver.

The driver reads the artifact once, checks it, and keeps only the files one provider needs (the
manifest, the tokenizer and one model variant) as bytes: a `PackedModel`. An engine moves it to
its workers (Ray's object store, Spark's `addFile`); each worker writes it into a private folder
and loads it with checksum verification, so a file damaged on the way fails loudly.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clf_runtime import providers
from clf_runtime.artifact import MANIFEST_NAME, TOKENIZER_NAME, Manifest
from clf_runtime.classifier import TextClassifier
from clf_runtime.errors import InputError
from clf_runtime.trust import load_manifest, verify_files


@dataclass(frozen=True)
class PackedModel:
    """The files of one model variant, as bytes, plus what a worker needs to load them."""

    files: dict[str, bytes]
    precision: str
    provider: str
    key: str  # sha256 over the files: names the folder a worker unpacks into

    @property
    def manifest(self) -> Manifest:
        import json

        return Manifest.from_json(json.loads(self.files[MANIFEST_NAME]))


def pack(folder: str | Path, provider: str = "cpu", precision: str | None = None) -> PackedModel:
    """Read and verify the artifact in `folder`; keep the files `provider` runs."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    name = providers.resolve(provider)
    variant = manifest.variant(precision) if precision else manifest.variant_for(name)
    names = [TOKENIZER_NAME, variant.file]
    verify_files(folder, manifest, names)
    files = {n: (folder / n).read_bytes() for n in [MANIFEST_NAME, *names]}
    digest = hashlib.sha256()
    for n in sorted(files):
        digest.update(n.encode() + b"\0" + hashlib.sha256(files[n]).digest())
    return PackedModel(files, variant.precision, name, digest.hexdigest()[:16])


def unpack(packed: PackedModel, parent: str | Path | None = None) -> Path:
    """Write the files into a new folder `clf-model-<key>` under `parent` (default: a temp dir)."""
    base = Path(parent) if parent is not None else Path(tempfile.mkdtemp(prefix="clf-"))
    folder = base / f"clf-model-{packed.key}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in packed.files.items():
        (folder / name).write_bytes(data)
    return folder


def load_packed(packed: PackedModel, threads: int | None = None) -> TextClassifier:
    """Unpack into a private folder and load, verifying every checksum."""
    if threads is not None and threads < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    base = Path(tempfile.mkdtemp(prefix="clf-"))
    try:
        return TextClassifier.load(
            unpack(packed, base),
            provider=packed.provider,
            precision=packed.precision,
            threads=threads,
            verify=True,
        )
    finally:  # the session and tokenizer hold everything in memory once loaded
        shutil.rmtree(base, ignore_errors=True)
