"""What the runtime needs to know about an ONNX file before ONNX Runtime opens it, read without `onnx`.

The runtime must not depend on the `onnx` package, yet it has to know, before creating a session,
which external-data files a graph points at (so that every file ONNX Runtime reads is one the
manifest lists and checksums) and how large the embedding tables are (to check `max_length` and the
tokenizer's vocabulary against the model). An ONNX file is a protobuf `ModelProto`; this module
walks its wire format directly and reads only those few fields. Every place a `TensorProto` can sit
is visited: graph initializers and sparse initializers, node attributes (tensors and subgraphs, at
any depth), functions and training-info graphs.

Field numbers are those of onnx/onnx.proto3 (stable since IR version 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from clf_runtime.errors import ArtifactError

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_MAX_DEPTH = 64  # nested subgraphs; real models use a handful


class _Malformed(Exception):
    pass


@dataclass
class ModelFacts:
    """What one ONNX file says about itself."""

    external_files: set[str] = field(default_factory=set)  # TensorProto external_data locations
    initializer_dims: dict[str, tuple[int, ...]] = field(default_factory=dict)  # main graph only
    op_types: set[str] = field(default_factory=set)

    def table_rows(self, part: str) -> int | None:
        """Rows of the 2-D main-graph initializer whose name contains `part` (e.g. position_embeddings)."""
        rows = [dims[0] for name, dims in self.initializer_dims.items() if part in name and len(dims) == 2]
        return min(rows) if rows else None


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) for each field; length-delimited values are sub-views."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview = 0
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _Malformed
            value, pos = buf[pos : pos + length], pos + length
        elif wire == _I64:
            pos += 8
        elif wire == _I32:
            pos += 4
        else:  # groups (3, 4) and reserved types never occur in ONNX files
            raise _Malformed
        if pos > end or number == 0:
            raise _Malformed
        yield number, wire, value


def _sub(wire: int, value: int | memoryview) -> memoryview:
    if wire != _LEN or not isinstance(value, memoryview):
        raise _Malformed
    return value


def _text(wire: int, value: int | memoryview) -> str:
    try:
        return bytes(_sub(wire, value)).decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed from None


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


class _Walker:
    def __init__(self) -> None:
        self.facts = ModelFacts()

    def model(self, buf: memoryview) -> None:
        for number, wire, value in _fields(buf):
            if number == 7:  # graph
                self.graph(_sub(wire, value), 0, main=True)
            elif number == 25:  # functions
                self.function(_sub(wire, value), 0)
            elif number == 20:  # training_info: initialization (1) and algorithm (2) graphs
                for n, w, v in _fields(_sub(wire, value)):
                    if n in (1, 2):
                        self.graph(_sub(w, v), 1)

    def graph(self, buf: memoryview, depth: int, main: bool = False) -> None:
        if depth > _MAX_DEPTH:
            raise _Malformed
        for number, wire, value in _fields(buf):
            if number == 1:  # node
                self.node(_sub(wire, value), depth)
            elif number == 5:  # initializer
                self.tensor(_sub(wire, value), record=main)
            elif number == 15:  # sparse_initializer
                self.sparse(_sub(wire, value))

    def function(self, buf: memoryview, depth: int) -> None:
        for number, wire, value in _fields(buf):
            if number == 7:  # node
                self.node(_sub(wire, value), depth + 1)
            elif number == 11:  # attribute_proto: default attribute values
                self.attribute(_sub(wire, value), depth + 1)

    def node(self, buf: memoryview, depth: int) -> None:
        for number, wire, value in _fields(buf):
            if number == 4:  # op_type
                self.facts.op_types.add(_text(wire, value))
            elif number == 5:  # attribute
                self.attribute(_sub(wire, value), depth)

    def attribute(self, buf: memoryview, depth: int) -> None:
        for number, wire, value in _fields(buf):
            if number in (5, 10):  # t, tensors
                self.tensor(_sub(wire, value))
            elif number in (6, 11):  # g, graphs
                self.graph(_sub(wire, value), depth + 1)
            elif number in (22, 23):  # sparse_tensor, sparse_tensors
                self.sparse(_sub(wire, value))

    def sparse(self, buf: memoryview) -> None:
        for number, wire, value in _fields(buf):
            if number in (1, 2):  # values, indices
                self.tensor(_sub(wire, value))

    def tensor(self, buf: memoryview, record: bool = False) -> None:
        dims: list[int] = []
        name, location, external = "", 0, False
        for number, wire, value in _fields(buf):
            if number == 1 and wire == _VARINT:
                dims.append(_signed(int(value)))  # type: ignore[arg-type]
            elif number == 1:  # packed dims
                packed, pos = _sub(wire, value), 0
                while pos < len(packed):
                    dim, pos = _varint(packed, pos)
                    dims.append(_signed(dim))
            elif number == 8:
                name = _text(wire, value)
            elif number == 14:
                location = int(value)  # type: ignore[arg-type]
            elif number == 13:  # external_data: repeated {key, value}
                external = True
                entry = {n: _text(w, v) for n, w, v in _fields(_sub(wire, value)) if n in (1, 2)}
                if entry.get(1) == "location":
                    self.facts.external_files.add(entry.get(2, ""))
        if location == _EXTERNAL and not external:
            self.facts.external_files.add("")  # external tensor without a location: refused later
        if record and name:
            self.facts.initializer_dims[name] = tuple(dims)


def inspect_model(data: bytes, where: str) -> ModelFacts:
    """Read the external-data locations, main-graph initializer shapes and op types of an ONNX file."""
    walker = _Walker()
    try:
        walker.model(memoryview(data))
    except _Malformed:
        raise ArtifactError(
            f"{where} is not a readable ONNX model: re-export the model or copy the file again"
        ) from None
    return walker.facts
