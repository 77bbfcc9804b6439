"""What one clf-batch run is asked to do, and the names of the files its output folder holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOOL = "clf-batch"  # the owner named in the output folder's marker (clf_runtime.outdir)
MARKER = "_clf_batch.json"  # the run's summary
SUCCESS = "_SUCCESS"


@dataclass(frozen=True)
class BatchConfig:
    inputs: tuple[str, ...]
    output: Path
    model: Path
    text_column: str = "text"
    pair_column: str | None = None
    engine: str = "local"  # a name in clf_runtime.batch.engines.ENGINES
    address: str | None = None  # ray: host:port or ray://...; spark: a master URL
    workers: int | None = None  # None: one per CPU
    threads: int | None = None  # per worker; None: CPUs // workers
    batch_size: int = 32
    prefix: str = ""
    scores: bool = False
    precision: str | None = None  # None: the manifest's choice for CPU (int8 when there is one)
    rows_per_part: int = 1_000_000
