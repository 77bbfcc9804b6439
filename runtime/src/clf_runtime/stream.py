"""Classify a text file line by line with flat memory: the library behind `clf-run`.

Input is read as bytes and decoded line by line, so a bad byte is reported with its line number
instead of failing the whole file at an unknown place. Lines are classified in chunks; each chunk's
rows are written before the next chunk is read.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from clf_runtime.classifier import TextClassifier, TextInput
from clf_runtime.errors import InputError
from clf_runtime.formats import formatter


@dataclass(frozen=True)
class StreamOptions:
    fmt: str = "text"
    top_k: int | None = None
    threshold: float | None = None
    batch_size: int = 32
    chunk_lines: int = 2048
    long_text: str | None = None  # None: the manifest's strategy
    min_score: float | None = None  # abstain below this calibrated score


#: Bytes of one line (or one side of a pair) kept per token of max_length. A token covers at least
#: one character, so past max_length * 64 bytes the model would truncate anyway; the rest of the line
#: is read in pieces, checked to be UTF-8 and dropped, so one 100 MB line costs what a short one does.
BYTES_PER_TOKEN = 64
_PIECE = 1 << 16


def _decode_error(name: str, number: int, at: int) -> InputError:
    return InputError(
        f"{name}, line {number}: not valid UTF-8 (byte {at}); "
        "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8"
    )


def _read_error(name: str, exc: OSError) -> InputError:
    return InputError(f"cannot read {name}: {exc.strerror or exc}")


def _long_line(stream: BinaryIO, first: bytes, limit: int, pair: bool, name: str, number: int) -> list[str]:
    """The rest of a line that did not fit in one piece: each field kept up to `limit` characters."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fields = [""]
    consumed = 0
    piece = first
    while True:
        ended = piece.endswith(b"\n")
        try:
            text = decoder.decode(piece, final=ended)
        except UnicodeDecodeError as exc:
            raise _decode_error(name, number, consumed + exc.start) from None
        consumed += len(piece)
        if pair and len(fields) == 1 and "\t" in text:
            head, text = text.split("\t", 1)
            fields[0] += head[: limit - len(fields[0])]
            fields.append("")
        fields[-1] += text[: limit - len(fields[-1])]
        if ended:
            return fields
        try:
            piece = stream.readline(_PIECE)
        except OSError as exc:
            raise _read_error(name, exc) from None
        if not piece:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise _decode_error(name, number, consumed) from None
            return fields


def read_inputs(
    stream: BinaryIO, text_pair: bool, name: str = "input", max_chars: int | None = None
) -> Iterator[TextInput]:
    """Yield one input per line: a str, or an (a, b) pair split at the first tab.

    max_chars: keep at most this many characters of a line (of each side of a pair); None keeps all.
    """
    limit = max_chars if max_chars is not None else sys.maxsize
    number = 0
    while True:
        try:
            raw = stream.readline(_PIECE)
        except OSError as exc:
            raise _read_error(name, exc) from None
        if not raw:
            return
        number += 1
        if raw.endswith(b"\n") and len(raw) <= limit:
            try:
                fields = [raw.decode("utf-8")]
            except UnicodeDecodeError as exc:
                raise _decode_error(name, number, exc.start) from None
            if text_pair:
                fields = fields[0].split("\t", 1)
        else:
            fields = _long_line(stream, raw, limit, text_pair, name, number)
        if number == 1 and fields[0].startswith("\ufeff"):
            fields[0] = fields[0][1:]  # byte-order mark written by some editors
        fields[-1] = fields[-1].rstrip("\r\n")
        if not text_pair:
            yield fields[0]
        elif len(fields) == 2:
            yield (fields[0], fields[1])
        elif fields[0] == "":
            yield ("", "")
        else:
            raise InputError(
                f"{name}, line {number}: this model classifies text pairs, give two texts separated by a tab"
            )


def _chunks(items: Iterable[TextInput], size: int) -> Iterator[list[TextInput]]:
    chunk: list[TextInput] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def classify_stream(
    clf: TextClassifier,
    source: BinaryIO,
    sink: TextIO,
    options: StreamOptions,
    name: str = "input",
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Classify every line of `source` and write one row per line to `sink`. Returns the count."""
    if options.threshold is not None and clf.task != "multi_label":
        raise InputError("--threshold applies to multi-label models only; this model is " + clf.task)
    header, row = formatter(options.fmt, clf.task, clf.labels, options.top_k)
    if header is not None:
        sink.write(header + "\n")
    count = 0
    max_chars = clf.manifest.max_length * BYTES_PER_TOKEN * _windows_read(clf, options)
    for chunk in _chunks(read_inputs(source, clf.text_pair, name, max_chars), options.chunk_lines):
        predictions = clf.predict(
            chunk,
            batch_size=options.batch_size,
            threshold=options.threshold,
            long_text=options.long_text,
            min_score=options.min_score,
        )
        sink.write("".join(row(p) + "\n" for p in predictions))
        count += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return count


def _windows_read(clf: TextClassifier, options: StreamOptions) -> int:
    """How many windows of text a line may need: 1 under truncate, else the manifest's max_windows.

    (head-tail reads the same bounded prefix: a line longer than that keeps the prefix's tail.)
    """
    strategy = options.long_text or clf.manifest.long_text.strategy
    return 1 if strategy == "truncate" else max(1, clf.manifest.long_text.max_windows)
