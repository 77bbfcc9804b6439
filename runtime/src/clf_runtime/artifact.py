"""The clf artifact format: the one contract between `clf-export` and the runtime.

An artifact is a folder:

    clf.json          the manifest (this module defines it)
    tokenizer.json    a Hugging Face `tokenizers` file, the one used in training
    model.onnx        fp32 graph
    model.int8.onnx   optional precision variants (int8, fp16)

`clf-export` writes it with `write_manifest`; the runtime reads it with `load_manifest` and
`verify_files`, and reads nothing else. Loading checks the format version and each file's size and
sha256, so a missing, truncated or tampered file fails with a message instead of odd predictions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clf_runtime.errors import ArtifactError

FORMAT = "clf-artifact"
FORMAT_VERSION = 1
MANIFEST_NAME = "clf.json"
TOKENIZER_NAME = "tokenizer.json"
TASKS = ("single_label", "multi_label", "regression")
PROVIDERS = ("cpu", "cuda", "coreml")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Variant:
    """One ONNX graph of the model at a given precision."""

    precision: str  # one of PRECISIONS
    file: str  # file name inside the artifact folder


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """What the runtime needs to know to turn text into predictions with this model."""

    task: str
    labels: tuple[str, ...]  # in id order: labels[i] is output column i
    max_length: int
    inputs: tuple[str, ...]  # ONNX input names, e.g. input_ids, attention_mask, token_type_ids
    variants: tuple[Variant, ...]
    # Which variant each provider should run: int8 is fastest on CPU, but CUDA runs
    # MatMulInteger on the host and CoreML has no int8 kernels, so they get fp32/fp16.
    provider_variants: dict[str, str]
    text_pair: bool = False
    thresholds: tuple[float, ...] | None = None  # multi-label: one per label
    output: str = "logits"
    files: dict[str, FileEntry] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_by: str = ""
    format_version: int = FORMAT_VERSION
    # Optional, per quantized precision: how it was quantized, e.g. {"int8": {"mode": "per-row",
    # "batch_independent": true, "fp32_nodes": [...]}}. Older runtimes ignore it.
    quantization: dict[str, dict[str, Any]] = field(default_factory=dict)

    def batch_independent(self, precision: str) -> bool:
        """Whether a text's outputs at `precision` are the same whatever its batch-mates.

        fp32/fp16 are; int8 is when its activation scales do not depend on the batch (per-row or
        static). Artifacts that do not say are dynamic int8, which is not.
        """
        if precision != "int8":
            return True
        return bool(self.quantization.get("int8", {}).get("batch_independent", False))

    def variant(self, precision: str) -> Variant:
        for v in self.variants:
            if v.precision == precision:
                return v
        have = ", ".join(v.precision for v in self.variants)
        raise ArtifactError(f"this artifact has no {precision} model (it has: {have})")

    def variant_for(self, provider: str) -> Variant:
        """The variant to run on `provider` (cpu, cuda, coreml)."""
        precision = self.provider_variants.get(provider) or self.provider_variants.get("cpu")
        if precision is None:
            return self.variants[0]
        return self.variant(precision)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"format": FORMAT, **data}
        data["labels"] = list(self.labels)
        data["inputs"] = list(self.inputs)
        data["thresholds"] = list(self.thresholds) if self.thresholds is not None else None
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = MANIFEST_NAME) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ArtifactError(f'{where} is not a clf manifest (no "format": "{FORMAT}")')
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"{where} has format version {version}, this clf-runtime reads version "
                f"{FORMAT_VERSION}: re-export the model with a matching clf-export, or install "
                "the clf-runtime release that matches the exporter"
            )
        try:
            manifest = cls(
                task=str(data["task"]),
                labels=tuple(str(x) for x in data["labels"]),
                max_length=int(data["max_length"]),
                inputs=tuple(str(x) for x in data["inputs"]),
                variants=tuple(Variant(**v) for v in data["variants"]),
                provider_variants={str(k): str(v) for k, v in data["provider_variants"].items()},
                text_pair=bool(data.get("text_pair", False)),
                thresholds=(
                    tuple(float(x) for x in data["thresholds"])
                    if data.get("thresholds") is not None
                    else None
                ),
                output=str(data.get("output", "logits")),
                files={str(k): FileEntry(**v) for k, v in data.get("files", {}).items()},
                metrics=dict(data.get("metrics") or {}),
                created_by=str(data.get("created_by", "")),
                quantization={str(k): dict(v) for k, v in (data.get("quantization") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"{where} is malformed ({type(exc).__name__}: {exc})") from exc
        manifest.validate(where)
        return manifest

    def validate(self, where: str = MANIFEST_NAME) -> None:
        if self.task not in TASKS:
            raise ArtifactError(f"{where}: unknown task {self.task!r} (expected one of {TASKS})")
        if not self.labels:
            raise ArtifactError(f"{where}: no labels")
        if self.max_length < 2:
            raise ArtifactError(f"{where}: max_length {self.max_length} is too small")
        if not self.variants:
            raise ArtifactError(f"{where}: no model variants")
        for v in self.variants:
            if v.precision not in PRECISIONS:
                raise ArtifactError(f"{where}: unknown precision {v.precision!r}")
        for provider, precision in self.provider_variants.items():
            self.variant(precision)  # raises if the named variant is absent
            if provider not in PROVIDERS:
                raise ArtifactError(f"{where}: unknown provider {provider!r}")
        if self.thresholds is not None and len(self.thresholds) != len(self.labels):
            raise ArtifactError(f"{where}: {len(self.thresholds)} thresholds for {len(self.labels)} labels")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Checksum every file the manifest names and write clf.json into `folder`.

    Returns the manifest with its `files` filled in.
    """
    folder = Path(folder)
    names = [TOKENIZER_NAME, *(v.file for v in manifest.variants)]
    files: dict[str, FileEntry] = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"cannot write the manifest: {path} does not exist")
        files[name] = FileEntry(sha256=sha256_file(path), bytes=path.stat().st_size)
    manifest.validate()
    complete = Manifest(**{**manifest.__dict__, "files": files})
    text = json.dumps(complete.to_json(), indent=2, sort_keys=False)
    (folder / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
    return complete


def load_manifest(folder: Path) -> Manifest:
    """Read and validate `folder/clf.json`."""
    folder = Path(folder)
    if not folder.exists():
        raise ArtifactError(
            f"model folder {folder} does not exist: pass --model DIR, set CLF_MODEL, "
            "or create it with clf-export"
        )
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is not a folder: pass the artifact folder written by clf-export")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(
            f"{folder} has no {MANIFEST_NAME}: it is not a clf artifact; export one with clf-export"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}): re-export the model") from exc
    return Manifest.from_json(data, where=str(path))


def verify_files(folder: Path, manifest: Manifest, names: list[str]) -> None:
    """Check that each named file exists with the size and sha256 the manifest recorded."""
    for name in names:
        path = Path(folder) / name
        entry = manifest.files.get(name)
        if entry is None:
            raise ArtifactError(f"{MANIFEST_NAME} has no checksum for {name}: re-export the model")
        if not path.is_file():
            raise ArtifactError(f"{path} is missing: copy the whole artifact folder or re-export it")
        size = path.stat().st_size
        if size != entry.bytes:
            raise ArtifactError(
                f"{path} is {size} bytes, the manifest says {entry.bytes}: the file is truncated "
                "or replaced; copy it again or re-export the model"
            )
        if sha256_file(path) != entry.sha256:
            raise ArtifactError(
                f"{path} does not match its sha256 in {MANIFEST_NAME}: the file was modified; "
                "copy it again or re-export the model"
            )
