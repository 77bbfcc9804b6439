"""The interface of a clf-batch engine, and what engines share: Parquet parts, a reachability check.

An engine is one module of `clf_runtime.batch.engines` that defines `ENGINE = Engine(...)`; the
table (`clf_runtime.batch.engines.ENGINES`) finds it by itself, and `--engine`, its option checks
and the help texts of `clf-batch` are read from the table. An engine module imports its framework
(Ray, PySpark, pyarrow) inside `run` only: `clf-batch --help` loads every engine module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clf_runtime.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from clf_runtime.batch.config import BatchConfig
    from clf_runtime.batch.inputs import InputFile

# The options that only some engines take, and what to tell a user who gives one to another
# ({engine}: the engine chosen). Every engine takes the other fields of BatchConfig.
ENGINE_OPTIONS = {
    "address": "leave it out for {engine}",
    "workers": "use --threads for {engine}",
}

# run(config, files, out, progress) classifies `files` into Parquet parts in the folder `out` and
# returns the row count; progress(n) says how many input bytes are done (in_process engines only).
RunEngine = Callable[["BatchConfig", "list[InputFile]", Path, Callable[[int], None]], int]


@dataclass(frozen=True)
class Engine:
    name: str  # the value of --engine
    extra: str  # what to install: pip install "clf-runtime[extra]"
    run: RunEngine
    # The ENGINE_OPTIONS it accepts, each with what it means for this engine (clf-batch --help).
    options: Mapping[str, str] = field(default_factory=dict)
    # The model runs in this process: clf-batch draws the progress bar and TextClassifier warns
    # here. Otherwise workers load it and show their own progress.
    in_process: bool = False


class PartWriter:
    """Write tables into part-NNNNN.parquet files of at most `rows_per_part` rows each."""

    def __init__(self, folder: Path, rows_per_part: int) -> None:
        self.folder = folder
        self.rows_per_part = rows_per_part
        self.parts = 0
        self.rows = 0
        self._writer: Any = None
        self._rows_in_part = 0

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        while table.num_rows:
            w = self._writer
            if w is None or self._rows_in_part >= self.rows_per_part or not w.schema.equals(table.schema):
                self.close()
                path = self.folder / f"part-{self.parts:05d}.parquet"
                self._writer = pq.ParquetWriter(str(path), table.schema)
                self.parts += 1
                self._rows_in_part = 0
            piece = table.slice(0, self.rows_per_part - self._rows_in_part)
            self._writer.write_table(piece)
            self._rows_in_part += piece.num_rows
            self.rows += piece.num_rows
            table = table.slice(piece.num_rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def check_reachable(address: str, what: str, fix: str) -> None:
    """Fail in a second, with a message, on an address nothing listens on (clients retry for minutes)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else "tcp://" + address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise InputError(f"{what} address {address!r} is not host:port; {fix}")
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise InputError(f"cannot reach {what} at {address} ({exc.strerror or exc}); {fix}") from exc
