"""Opening an artifact's ONNX graph and checking it against its manifest before any input is classified.

How ONNX Runtime gets the model: the graph file is read, its sha256 checked, and the graph read for
the external-data files it points at (`onnx_wire`; graphs over 2 GB keep their weights in such
files, which ONNX Runtime would otherwise open by itself, from locations written inside the graph).
Each location must be a file the manifest lists; each is memory-mapped, verified and handed to ONNX
Runtime with `add_external_initializers_from_files_in_memory` (ONNX Runtime >= 1.23). The session's
folder for external files is set to a path below clf.json, a regular file, where nothing can ever
exist, so a reference that escaped this reading finds nothing rather than an unchecked file. ONNX
Runtime itself opens only the verified graph file, by its resolved path inside the folder.

Why the graph goes by path and not as the verified bytes: `InferenceSession(bytes)` keeps our copy
alive while ONNX Runtime builds its own, which raised clf-run's peak RSS by the model's size (+89 MiB
for MiniLM fp32, +28 MiB int8, measured). The bytes are dropped before the session is created
instead. What that gives up is protection against someone who rewrites the file in the folder
between the check and the load, i.e. who can already write the artifact; downloads, copies and
tampering in transit are caught either way.

Then the manifest is checked against the model: the graph's inputs are ones clf feeds, the output
exists with one column per label, `max_length` fits the position table (capped with a warning
otherwise) and the tokenizer's ids fit the vocabulary table, where the graph shows those tables.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clf_runtime.artifact import MANIFEST_NAME, SUPPORTED_INPUTS, Manifest, Variant
from clf_runtime.errors import ArtifactError
from clf_runtime.onnx_wire import ModelFacts, inspect_model
from clf_runtime.trust import confined, map_verified, read_verified

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Tokenizer

_FOLDER_KEY = "session.model_external_initializers_file_folder_path"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, short enough for a terminal."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def open_session(
    root: Path,
    manifest: Manifest,
    variant: Variant,
    options: ort.SessionOptions,
    providers: list[str],
    verify: bool = True,
) -> tuple[ort.InferenceSession, ModelFacts]:
    """An ONNX Runtime session on the graph the manifest vouches for, and what the graph shows."""
    import onnxruntime as ort

    where = str(root / variant.file)
    path = confined(root, variant.file)
    facts = inspect_model(read_verified(root, manifest, variant.file, verify), where)
    names = sorted(facts.external_files)
    buffers: list = []
    try:
        for name in names:
            buffers.append(map_verified(root, manifest, name, verify))
        if names and not hasattr(options, "add_external_initializers_from_files_in_memory"):
            raise ArtifactError(
                f"{where} keeps its weights in {', '.join(names)}; loading such a model safely needs "
                f"onnxruntime 1.23 or later (this is {ort.__version__}): pip install -U onnxruntime"
            )
        options.add_session_config_entry(_FOLDER_KEY, str(root / MANIFEST_NAME / "no-external-files"))
        if names:
            options.add_external_initializers_from_files_in_memory(names, buffers, [len(b) for b in buffers])
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidArgument types
            raise ArtifactError(f"onnxruntime cannot load {where}: {one_line(exc)}") from None
    finally:
        for b in buffers:
            if hasattr(b, "close"):
                b.close()
    return session, facts


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing).

    Creating a session frees what it used on the way (the parsed graph, optimizer copies); glibc
    keeps those pages, so they stay in the process's RSS for its whole life: 8.8 MiB for MiniLM
    int8 (RSS after load 111.7 -> 102.9 MiB). The call took 0.9 ms (5 ms once, under load).
    """
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # absent with musl
    except (OSError, AttributeError):
        return
    trim(0)


def check_inputs(manifest: Manifest, session: ort.InferenceSession) -> list[str]:
    """The graph's input names, refused unless clf can feed each of them int64 token arrays."""
    declared = session.get_inputs()
    names = [i.name for i in declared]
    unknown = [n for n in names if n not in SUPPORTED_INPUTS]
    if unknown:
        raise ArtifactError(
            f"the ONNX model declares inputs clf cannot feed: {', '.join(unknown)} "
            f"(supported: {', '.join(SUPPORTED_INPUTS)})"
        )
    if "input_ids" not in names:
        raise ArtifactError("the ONNX model has no input_ids input: it is not a text classifier clf can run")
    wrong = [i.name for i in declared if i.type != "tensor(int64)"]
    if wrong:
        raise ArtifactError(f"the ONNX model's inputs {', '.join(wrong)} are not int64 token arrays")
    if set(names) != set(manifest.inputs):
        raise ArtifactError(
            f"clf.json lists inputs {', '.join(manifest.inputs)} but the model declares "
            f"{', '.join(names)}: the manifest belongs to another model; re-export it"
        )
    return names


def output_width(manifest: Manifest, session: ort.InferenceSession, inputs: list[str]) -> int:
    """Columns of the manifest's output, from the graph's shape or else from one tiny run."""
    outputs = {o.name: o for o in session.get_outputs()}
    if manifest.output not in outputs:
        raise ArtifactError(
            f"clf.json names the output {manifest.output!r}, the model has {', '.join(outputs)}: re-export it"
        )
    shape = outputs[manifest.output].shape
    if len(shape) != 2:
        raise ArtifactError(f"the model's output {manifest.output} is not a (batch, labels) table")
    if isinstance(shape[1], int):
        return shape[1]
    feed = {
        n: np.ones((1, 2), dtype=np.int64) if n == "attention_mask" else np.zeros((1, 2), np.int64)
        for n in inputs
    }
    try:
        return int(session.run([manifest.output], feed)[0].shape[-1])
    except Exception as exc:
        raise ArtifactError(f"the model fails on a two-token input: {one_line(exc)}") from None


def check_tables(manifest: Manifest, facts: ModelFacts, tokenizer: Tokenizer) -> Manifest:
    """Fit max_length to the position table and the tokenizer to the vocabulary where the graph shows them."""
    rows = facts.table_rows("position_embeddings")
    if rows is not None:
        # RoBERTa-style graphs number positions from padding_idx + 1 (a CumSum over the mask).
        usable = rows - 2 if "CumSum" in facts.op_types else rows
        if 2 <= usable < manifest.max_length:
            warnings.warn(
                f"clf.json says max_length {manifest.max_length}, but the model's position table holds "
                f"{usable} positions: texts are truncated at {usable} tokens",
                stacklevel=3,
            )
            manifest = replace(manifest, max_length=usable)
    vocab = facts.table_rows("word_embeddings")
    if vocab is not None and tokenizer.get_vocab_size(with_added_tokens=True) > vocab:
        top = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=0)
        if top >= vocab:
            raise ArtifactError(
                f"tokenizer.json produces token ids up to {top}, the model's vocabulary table has {vocab} "
                "rows: the tokenizer belongs to another model; re-export it"
            )
    return manifest
