"""The files of a model folder, checked before export: each damaged file named with its fix.

A folder copied in part, edited by hand or cut short by a full disk fails deep inside transformers,
tokenizers or torch with a message that names neither the file nor what to do. Checked here, in
this order, before anything is exported (`check_model_files`):

- the tokenizer: `tokenizer.json`, or a vocabulary the slow tokenizer is built from (`vocab.txt`;
  `vocab.json` with `merges.txt`; a SentencePiece `*.model`), must be there; every tokenizer JSON
  file must parse; then transformers must load it as a fast tokenizer (and, once the weights are
  known to fit config.json, produce no id past its `vocab_size`);
- the weights: a `*.safetensors` file must hold its whole header and every byte the header
  describes (a truncated copy fails here, named, with its size and the size it should have); a
  sharded checkpoint's index must name shards that exist;
- weights against `config.json`: the model config.json describes is built and loaded with
  transformers' own loading rules; a weight whose shape differs, a weight the model needs that the
  files lack, or an unused weight of a kind the model has (a layer more than config.json says) mean
  the two files do not belong together. (Unchecked, transformers initializes what is missing at
  random and drops what is extra: the export then fails at the gate for no visible reason, or
  passes when the gate's PyTorch model carries the same damage.)
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clf_export.errors import ExportError
from clf_runtime.oserrors import os_error_message

TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
VOCABULARIES = (("vocab.txt",), ("vocab.json", "merges.txt"), ("spiece.model",), ("sentencepiece.bpe.model",))
SAFETENSORS_INDEX = "model.safetensors.index.json"
#: A safetensors header is a few hundred bytes per tensor; past this the length field is garbage.
MAX_HEADER_BYTES = 100 * 2**20
RETRAIN = "copy the folder again from where it was trained, or train again"


def check_model_files(path: Path, config: dict[str, Any] | None = None) -> None:
    """Raise ExportError naming the first damaged or missing file of the model folder `path`
    (`config`: its config.json, already read)."""
    top = check_tokenizer(path)
    for file in sorted(path.glob("*.safetensors")):
        check_safetensors(file)
    _check_shards(path)
    check_weights_fit_config(path)
    vocab_size = (config or {}).get("vocab_size")
    if isinstance(vocab_size, int) and top >= vocab_size:  # weights fit config.json: the tokenizer does not
        named = path / "tokenizer.json" if (path / "tokenizer.json").is_file() else path
        raise ExportError(
            f"{named} produces token ids up to {top}, but config.json's vocab_size is {vocab_size}: "
            f"the tokenizer is not the model's; {RETRAIN}"
        )


# --- tokenizer ------------------------------------------------------------------------------------


def check_tokenizer(path: Path) -> int:
    """The tokenizer files are there, parse and load as a fast tokenizer. Returns its highest id."""
    for name in TOKENIZER_JSON:
        _check_json(path / name)
    has_vocabulary = any(all((path / n).is_file() for n in names) for names in VOCABULARIES)
    if not (path / "tokenizer.json").is_file() and not has_vocabulary:
        half = [n for names in VOCABULARIES if len(names) > 1 for n in names if (path / n).is_file()]
        missing = f"{path}/tokenizer.json is missing" + (
            f" and {', '.join(half)} alone is not a vocabulary" if half else " and there is no vocab.txt"
        )
        raise ExportError(
            f"{missing}: the runtime needs the model's tokenizer; copy tokenizer.json (and "
            "tokenizer_config.json) from the model it was trained from (tokenizer.save_pretrained), "
            "or train again"
        )
    from transformers import AutoTokenizer

    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    except Exception as exc:  # tokenizers raises a bare Exception on a file it cannot read
        if isinstance(exc, OSError) and exc.errno is not None:
            raise ExportError(os_error_message(exc, "cannot read the tokenizer of")) from exc
        files = [n for n in (*TOKENIZER_JSON, *(n for v in VOCABULARIES for n in v)) if (path / n).is_file()]
        raise ExportError(
            f"cannot load the tokenizer from {path / files[0]}"
            + (f" (with {', '.join(files[1:])})" if files[1:] else "")
            + f": {_first_line(exc)}; {RETRAIN}"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError(f"{path} has no fast tokenizer; the runtime needs tokenizer.json: {RETRAIN}")
    return max(tokenizer.get_vocab().values(), default=-1)


def _check_json(file: Path) -> None:
    if not file.is_file():
        return
    try:
        json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(os_error_message(exc, "cannot read")) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ExportError(
            f"{file} is not valid JSON ({_first_line(exc)}; is it cut short?): {RETRAIN}"
        ) from exc


# --- weights files ---------------------------------------------------------------------------------


def check_safetensors(file: Path) -> None:
    """The header is whole and the file holds every byte the header describes."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if length < 0 or length > min(size - 8, MAX_HEADER_BYTES):
                raise ExportError(
                    f"{file} is truncated or not a safetensors file ({size} bytes, too short for its "
                    f"own header): {RETRAIN}"
                )
            header = json.loads(f.read(length))
    except OSError as exc:
        raise ExportError(os_error_message(exc, "cannot read")) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ExportError(f"{file} has a damaged header ({_first_line(exc)}): {RETRAIN}") from exc
    ends = [
        t["data_offsets"][1]
        for name, t in (header.items() if isinstance(header, dict) else [])
        if name != "__metadata__" and isinstance(t, dict) and len(t.get("data_offsets") or ()) == 2
    ]
    expected = 8 + length + max((int(e) for e in ends), default=0)
    if size < expected:
        raise ExportError(
            f"{file} is truncated: {size} bytes, its header describes {expected} "
            f"({len(ends)} tensors); {RETRAIN}"
        )


def _check_shards(path: Path) -> None:
    index = path / SAFETENSORS_INDEX
    if not index.is_file():
        return
    _check_json(index)
    data = json.loads(index.read_text(encoding="utf-8"))
    shards = sorted(set((data.get("weight_map") or {}).values())) if isinstance(data, dict) else []
    missing = [s for s in shards if not (path / str(s)).is_file()]
    if missing:
        raise ExportError(f"{index} names {path / str(missing[0])}, which is missing: {RETRAIN}")


def _weights_file(path: Path) -> Path:
    """The file to name when the weights are wrong: the single weights file, else the folder."""
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    return files[0] if len(files) == 1 else path


# --- weights against config.json -------------------------------------------------------------------


def check_weights_fit_config(path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    weights = _weights_file(path)
    try:
        with _quiet_transformers():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path, output_loading_info=True, ignore_mismatched_sizes=True, local_files_only=True
            )
    except Exception as exc:  # safetensors, torch and transformers each raise their own types
        if isinstance(exc, OSError) and exc.errno is not None:
            raise ExportError(os_error_message(exc, "cannot read the weights of")) from exc
        raise ExportError(
            f"cannot load the weights in {weights} ({_first_line(exc)}): the file is damaged or does "
            f"not fit {path / 'config.json'}; {RETRAIN}"
        ) from exc
    config = path / "config.json"
    fix = f"the weights do not fit {config} (edited after training, or another model's): {RETRAIN}"
    mismatched = list(info.get("mismatched_keys") or [])
    if mismatched:
        name = mismatched[0][0] if isinstance(mismatched[0], tuple) else mismatched[0]
        saved = _saved_shape(path, name)
        wanted = tuple(model.state_dict()[name].shape) if name in model.state_dict() else "?"
        raise ExportError(
            f"{weights}: weight {name} has shape {saved}, config.json makes it {wanted}"
            f"{_more(mismatched)}; {fix}"
        )
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise ExportError(f"{weights} lacks weights the model needs: {missing[0]}{_more(missing)}; {fix}")
    # Weights of the model's own kind that it does not use (an extra layer: config.json lost one);
    # leftovers of other heads (lm_head, ...) are harmless and ignored.
    kinds = {_kind_of(k) for k in model.state_dict()}
    extra = [k for k in info.get("unexpected_keys") or [] if _kind_of(k) in kinds]
    if extra:
        raise ExportError(f"{weights} holds weights the model does not use: {extra[0]}{_more(extra)}; {fix}")


def _kind_of(key: str) -> str:
    """A weight's name with layer numbers masked: `encoder.layer.#.output.dense.weight`."""
    return ".".join("#" if part.isdigit() else part for part in key.split("."))


def _saved_shape(path: Path, name: str) -> Any:
    for file in sorted(path.glob("*.safetensors")):
        with contextlib.suppress(OSError, ValueError):
            with open(file, "rb") as f:
                header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
            for key in (name, name.split(".", 1)[-1]):
                if key in header:
                    return tuple(header[key]["shape"])
    return "?"


def _more(items: list[Any]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers logs each missing weight as a warning; here they become one error instead."""
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
