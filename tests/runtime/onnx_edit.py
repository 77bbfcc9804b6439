"""Edit the fixture ONNX files at the protobuf wire level, without the `onnx` package.

The runtime's tests run with only the runtime wheel installed, yet need graphs the fixtures do not
have: weights moved to an external-data file (with a location of our choosing) and a classifier bias
set to NaN. A protobuf message is a sequence of (tag, value) fields, so a message is edited by
re-emitting its fields with some dropped or replaced. Field numbers are those of onnx.proto3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

MODEL_GRAPH, GRAPH_INITIALIZER = 7, 5
TENSOR_NAME, TENSOR_RAW, TENSOR_EXTERNAL, TENSOR_LOCATION = 8, 9, 13, 14


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(number, wire type, payload of a length-delimited field or b"", the field's raw bytes)."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        payload = b""
        if wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            payload, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        yield number, wire, payload, buf[start:pos]


def field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _edit_initializers(model: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    def graph(buf: bytes) -> bytes:
        return b"".join(field(n, edit(p)) if n == GRAPH_INITIALIZER else raw for n, _, p, raw in fields(buf))

    return b"".join(field(n, graph(p)) if n == MODEL_GRAPH else raw for n, _, p, raw in fields(model))


def _name(tensor: bytes) -> str:
    return next((p.decode() for n, _, p, _ in fields(tensor) if n == TENSOR_NAME), "")


def externalize(model: bytes, location: str, min_bytes: int = 1024) -> tuple[bytes, bytes]:
    """Move every initializer's raw data of at least min_bytes into one external file named location."""
    data = bytearray()

    def edit(tensor: bytes) -> bytes:
        raw = next((p for n, _, p, _ in fields(tensor) if n == TENSOR_RAW), b"")
        if len(raw) < min_bytes:
            return tensor
        offset = len(data)
        data.extend(raw)
        kept = b"".join(r for n, _, _, r in fields(tensor) if n != TENSOR_RAW)
        entries = [("location", location), ("offset", str(offset)), ("length", str(len(raw)))]
        external = b"".join(
            field(TENSOR_EXTERNAL, field(1, k.encode()) + field(2, v.encode())) for k, v in entries
        )
        return kept + external + _varint(TENSOR_LOCATION << 3) + _varint(1)

    return _edit_initializers(model, edit), bytes(data)


def set_raw_data(model: bytes, name: str, raw: bytes) -> bytes:
    """Replace the raw data of the named initializer (same size: shape and type stay)."""

    def edit(tensor: bytes) -> bytes:
        if _name(tensor) != name:
            return tensor
        return b"".join(field(TENSOR_RAW, raw) if n == TENSOR_RAW else r for n, _, _, r in fields(tensor))

    return _edit_initializers(model, edit)
