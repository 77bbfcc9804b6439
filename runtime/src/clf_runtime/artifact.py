"""The clf artifact format: the one contract between `clf-export` and the runtime.

An artifact is a folder:

    clf.json          the manifest (this module defines it)
    tokenizer.json    a Hugging Face `tokenizers` file, the one used in training
    model.onnx        fp32 graph
    model.int8.onnx   optional precision variants (int8, fp16, an unfused fp32 graph for CoreML)

`clf-export` writes it (`clf_export.manifest.write_manifest`); the runtime reads it with
`clf_runtime.trust`'s `load_manifest` and `verify_files` (this module holds the format and its one
validator, those the files), and reads nothing else. Loading checks the format version and each
file's size and sha256, so a missing, truncated or tampered file fails with a message instead of odd
predictions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from clf_runtime.calibration import Calibration
from clf_runtime.errors import ArtifactError, InputError
from clf_runtime.long_text import ENCODING_FIELDS, LongText

FORMAT = "clf-artifact"
FORMAT_VERSION = 1
MANIFEST_NAME = "clf.json"
TOKENIZER_NAME = "tokenizer.json"
TASKS = ("single_label", "multi_label", "regression")
PROVIDERS = ("cpu", "cuda", "coreml")
#: fp32-unfused: the fp32 graph without ONNX Runtime's transformer fusions (contrib ops that CoreML
#: cannot run), written by `clf-export --variants coreml` for the CoreML provider.
PRECISIONS = ("fp32", "fp16", "int8", "fp32-unfused")


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
    # Optional, added after version 1 shipped: absent means truncate and uncalibrated scores.
    long_text: LongText = field(default_factory=LongText)
    calibration: Calibration | None = None
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
        data["long_text"] = self.long_text.to_json()
        data["calibration"] = self.calibration.to_json() if self.calibration is not None else None
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = MANIFEST_NAME) -> Manifest:
        """Build a manifest from parsed JSON, refusing anything not exactly of the documented types."""
        return validate_manifest(data, where)

    def validate(self, where: str = MANIFEST_NAME) -> None:
        """Check a manifest built in Python (e.g. by clf-export) with the same rules as a loaded one."""
        validate_manifest(self.to_json(), where)


def parse_manifest(data: bytes, where: str = MANIFEST_NAME) -> Manifest:
    """A manifest from the bytes of a clf.json (read by `clf_runtime.trust.load_manifest`)."""
    try:
        parsed = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{where} is not valid JSON ({_short(exc)}): re-export the model") from None
    return validate_manifest(parsed, where)


# --- strict validation -------------------------------------------------------------------------

MAX_MANIFEST_BYTES = 16 << 20
MAX_LABELS = 100_000
MAX_LABEL_CHARS = 1_000
MAX_LENGTH_LIMIT = 1 << 20  # tokens; far above any encoder's position table
MAX_FILE_BYTES = 1 << 42  # 4 TiB
SUPPORTED_INPUTS = tuple(ENCODING_FIELDS)  # the model inputs a manifest may list
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _short(x: object, limit: int = 80) -> str:
    text = repr(x) if not isinstance(x, BaseException) else str(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {_short(key)} appears twice")
        out[key] = value
    return out


def _bad_char(text: str) -> bool:
    # Control characters and line/paragraph separators would break one-row-per-line output.
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def check_file_name(name: Any, where: str) -> str:
    """A file name the manifest may use: one plain component, no path, no `..`, no control chars."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 255
        or name in (".", "..")
        or any(c in name for c in "/\\:")
        or _bad_char(name)
    ):
        raise ArtifactError(
            f"{where}: file name {_short(name)} is not a plain file name inside the artifact folder "
            "(no folders, absolute paths or ..): re-export the model"
        )
    return name


class _Fields:
    """Typed access to one JSON object, each failure an ArtifactError naming the field."""

    def __init__(self, data: Any, where: str, what: str = "the manifest") -> None:
        if not isinstance(data, dict):
            raise ArtifactError(f"{where} is malformed: {what} is not a JSON object")
        self.data, self.where = data, where

    def fail(self, key: str, expected: str) -> ArtifactError:
        got = self.data.get(key, None)
        shown = "missing" if key not in self.data else f"{type(got).__name__} {_short(got)}"
        return ArtifactError(f'{self.where} is malformed: "{key}" must be {expected}, got {shown}')

    def get(self, key: str, types: tuple[type, ...], expected: str, default: Any = ...) -> Any:
        if key not in self.data and default is not ...:
            return default
        value = self.data.get(key)
        # bool is a subclass of int: `true` is not a number here, and 1 is not a boolean.
        if key not in self.data or type(value) not in types:
            raise self.fail(key, expected)
        return value

    def integer(self, key: str, low: int, high: int, default: Any = ...) -> int:
        value = self.get(key, (int,), f"an integer from {low} to {high}", default)
        if not low <= value <= high:
            raise self.fail(key, f"an integer from {low} to {high}")
        return value

    def text(self, key: str, default: Any = ..., choices: tuple[str, ...] | None = None) -> str:
        expected = f"one of {', '.join(choices)}" if choices else "a string"
        value = self.get(key, (str,), expected, default)
        if choices is not None and value not in choices:
            raise self.fail(key, expected)
        return value

    def strings(self, key: str, expected: str) -> list[str]:
        value = self.get(key, (list,), expected)
        if not value or not all(type(x) is str and x and not _bad_char(x) for x in value):
            raise self.fail(key, expected)
        if len(set(value)) != len(value):
            dup = next(x for x in value if value.count(x) > 1)
            raise ArtifactError(f'{self.where} is malformed: "{key}" lists {_short(dup)} twice')
        return value


def validate_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """The one validator of clf.json: parsed JSON in, a Manifest out, or an ArtifactError.

    Public so that exporters check what they assemble with the rules the runtime loads by.
    """
    top = _Fields(data, where)
    _check_format(top, where)
    task = top.text("task", choices=TASKS)
    labels = _labels(top)
    inputs = _inputs(top)
    variants = _variants(top)
    manifest = _manifest(top, task, labels, inputs, variants)
    if manifest.text_pair and manifest.long_text.strategy != "truncate":
        raise top.fail("long_text", "truncate (the other strategies are for single-text models)")
    if not manifest.output or _bad_char(manifest.output):
        raise top.fail("output", "the name of the ONNX output")
    return manifest


def _check_format(top: _Fields, where: str) -> None:
    """A clf manifest ("format") of the version this runtime reads ("format_version")."""
    if top.data.get("format") != FORMAT:
        raise ArtifactError(f'{where} is not a clf manifest (no "format": "{FORMAT}")')
    version = top.data.get("format_version")
    if type(version) is not int:
        raise top.fail("format_version", "an integer")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{where} has format version {version}, this clf-runtime reads version "
            f"{FORMAT_VERSION}: re-export the model with a matching clf-export, or install "
            "the clf-runtime release that matches the exporter"
        )


def _labels(top: _Fields) -> list[str]:
    labels = top.strings(
        "labels", "a non-empty list of distinct non-empty strings without control characters"
    )
    if len(labels) > MAX_LABELS or any(len(x) > MAX_LABEL_CHARS for x in labels):
        raise top.fail("labels", f"at most {MAX_LABELS} labels of at most {MAX_LABEL_CHARS} characters")
    return labels


def _inputs(top: _Fields) -> list[str]:
    inputs = top.strings(
        "inputs", f"a non-empty list of distinct ONNX input names ({', '.join(SUPPORTED_INPUTS)})"
    )
    if not set(inputs) <= set(SUPPORTED_INPUTS) or "input_ids" not in inputs:
        raise top.fail("inputs", f"names among {', '.join(SUPPORTED_INPUTS)}, input_ids included")
    return inputs


def _manifest(
    top: _Fields, task: str, labels: list[str], inputs: list[str], variants: tuple[Variant, ...]
) -> Manifest:
    """The Manifest of the checked fields and the rest, read in this order; a field parser's own
    exception (a malformed nested object) becomes an ArtifactError."""
    try:
        manifest = Manifest(
            task=task,
            labels=tuple(labels),
            max_length=top.integer("max_length", 2, MAX_LENGTH_LIMIT),
            inputs=tuple(inputs),
            variants=variants,
            provider_variants=_provider_variants(top, variants),
            text_pair=top.get("text_pair", (bool,), "true or false", False),
            thresholds=_thresholds(top, task, len(labels)),
            output=top.text("output", "logits"),
            files=_files(top, variants),
            metrics=top.get("metrics", (dict, type(None)), "an object", {}) or {},
            created_by=top.text("created_by", ""),
            # Optional fields added later go here, read with `top` (absent: their default).
            long_text=LongText.from_json(top.get("long_text", (dict, type(None)), "an object", None)),
            calibration=Calibration.from_json(top.get("calibration", (dict, type(None)), "an object", None)),
            quantization=_quantization(top),
        )
        if manifest.calibration is not None:
            manifest.calibration.check(len(manifest.labels))
    except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:  # field parsers' checks
        raise ArtifactError(f"{top.where} is malformed ({type(exc).__name__}: {_short(exc, 200)})") from None
    return manifest


#: Typed fields of a quantization record (clf-export writes them; other keys pass through as
#: information, e.g. the mixed-precision search's story). Artifacts exported before these were
#: typed wrote booleans and lists as Python's str() of them ("True", "['MatMul']"): read as such.
_QUANT_BOOLS = ("batch_independent", "per_channel", "reduce_range", "keep_io_types")
_QUANT_LISTS = ("op_types", "fp32_nodes")
_QUANT_TEXTS = ("mode", "target")
QUANT_TYPES = ("QInt8", "QUInt8")


def _quantization(top: _Fields) -> dict[str, dict[str, Any]]:
    """Per precision, how it was quantized (clf-export's record), with its known fields typed."""
    expected = "an object mapping precisions to objects"
    value = top.get("quantization", (dict, type(None)), expected, None) or {}
    if not all(k in PRECISIONS and isinstance(v, dict) for k, v in value.items()):
        raise top.fail("quantization", expected)
    return {k: _quantization_record(dict(v), top) for k, v in value.items()}


def _quantization_record(record: dict[str, Any], top: _Fields) -> dict[str, Any]:
    for key in _QUANT_BOOLS:
        if key in record:
            legacy = {"True": True, "False": False}.get(record[key]) if type(record[key]) is str else None
            record[key] = legacy if legacy is not None else record[key]
            if type(record[key]) is not bool:
                raise top.fail("quantization", f"{key} as true or false")
    for key in _QUANT_LISTS:
        if key in record:
            record[key] = _legacy_list(record[key])
            if type(record[key]) is not list or not all(type(x) is str for x in record[key]):
                raise top.fail("quantization", f"{key} as a list of strings")
    for key in _QUANT_TEXTS:
        if key in record and type(record[key]) is not str:
            raise top.fail("quantization", f"{key} as a string")
    for key in ("weight_type", "activation_type"):
        if key in record and record[key] not in QUANT_TYPES:
            raise top.fail("quantization", f"{key} as one of {', '.join(QUANT_TYPES)}")
    samples = record.get("calibration_samples", 0)
    if type(samples) is not int or samples < 0:
        raise top.fail("quantization", "calibration_samples as a count")
    return record


def _legacy_list(value: Any) -> Any:
    """ "['MatMul', 'Gather']" (an older clf-export's str() of a list) as the list it spells."""
    if type(value) is not str or not (value.startswith("[") and value.endswith("]")):
        return value
    inner = value[1:-1].strip()
    items = [item.strip() for item in inner.split(",")] if inner else []
    if not all(len(i) >= 2 and i[0] == i[-1] and i[0] in "'\"" for i in items):
        return value
    return [i[1:-1] for i in items]


def _variants(top: _Fields) -> tuple[Variant, ...]:
    expected = 'a non-empty list of {"precision": ..., "file": ...} objects, one per precision'
    items = top.get("variants", (list,), expected)
    if not items:
        raise top.fail("variants", expected)
    out = []
    for item in items:
        v = _Fields(item, top.where, "a variant")
        if set(item) != {"precision", "file"}:
            raise top.fail("variants", expected)
        precision = v.text("precision", choices=PRECISIONS)
        out.append(Variant(precision, check_file_name(v.text("file"), top.where)))
    if len({v.precision for v in out}) != len(out):
        raise top.fail("variants", expected)
    return tuple(out)


def _provider_variants(top: _Fields, variants: tuple[Variant, ...]) -> dict[str, str]:
    have = tuple(v.precision for v in variants)
    expected = (
        f"an object mapping providers ({', '.join(PROVIDERS)}) to precisions it has ({', '.join(have)})"
    )
    value = top.get("provider_variants", (dict,), expected)
    if not all(k in PROVIDERS and v in have for k, v in value.items()):
        raise top.fail("provider_variants", expected)
    return dict(value)


def _thresholds(top: _Fields, task: str, n: int) -> tuple[float, ...] | None:
    expected = f"null, or for a multi_label model a list of {n} numbers from 0 to 1"
    value = top.get("thresholds", (list, type(None)), expected, None)
    if value is None:
        return None
    ok = task == "multi_label" and len(value) == n
    if not ok or not all(type(x) in (int, float) and 0 <= x <= 1 for x in value):  # NaN fails 0 <= x
        raise top.fail("thresholds", expected)
    return tuple(float(x) for x in value)


def _files(top: _Fields, variants: tuple[Variant, ...]) -> dict[str, FileEntry]:
    expected = 'an object mapping each file name to {"sha256": 64 hex digits, "bytes": its size}'
    value = top.get("files", (dict,), expected)
    files = {}
    for name, item in value.items():
        check_file_name(name, top.where)
        entry = _Fields(item, top.where, f"the entry of {_short(name)} in files")
        sha = entry.text("sha256")
        if set(item) != {"sha256", "bytes"} or not _SHA256.fullmatch(sha):
            raise top.fail("files", expected)
        files[name] = FileEntry(sha256=sha, bytes=entry.integer("bytes", 0, MAX_FILE_BYTES))
    for name in (TOKENIZER_NAME, *(v.file for v in variants)):
        if name not in files:
            raise ArtifactError(f"{top.where} has no checksum for {name}: re-export the model")
    return files
