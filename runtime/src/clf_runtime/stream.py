"""Classify a text file line by line with flat memory: the library behind `clf-run`.

Input is read as bytes and decoded line by line, so a bad byte is reported with its line number
instead of failing the whole file at an unknown place. Lines are classified in chunks; each chunk's
rows are written before the next chunk is read.
"""

from __future__ import annotations

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


def read_inputs(stream: BinaryIO, text_pair: bool, name: str = "input") -> Iterator[TextInput]:
    """Yield one input per line: a str, or an (a, b) pair split at the first tab."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{name}, line {number}: not valid UTF-8 (byte {exc.start}); "
                "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8"
            ) from exc
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]  # byte-order mark written by some editors
        line = line.rstrip("\r\n")
        if not text_pair:
            yield line
        elif line == "":
            yield ("", "")
        elif "\t" not in line:
            raise InputError(
                f"{name}, line {number}: this model classifies text pairs, give two texts separated by a tab"
            )
        else:
            a, b = line.split("\t", 1)
            yield (a, b)


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
    for chunk in _chunks(read_inputs(source, clf.text_pair, name), options.chunk_lines):
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
