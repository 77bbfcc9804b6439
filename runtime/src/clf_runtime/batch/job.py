"""One clf-batch run: the engine looked up in the table, its options checked, the output folder.

The output folder follows the rules of `clf_runtime.outdir`, as clf-train's and clf-export's do: the
parts go to a hidden temporary folder beside it, then `_clf_batch.json` (what was run) and
`_SUCCESS`, then the marker listing every file written, and the folder is renamed into place. An
existing folder is replaced only when its marker says clf-batch wrote it and lists everything in
it; anything else (a user's file, a folder without a marker) is refused, so nothing clf-batch did
not write is ever removed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from clf_runtime.arrow import import_pyarrow
from clf_runtime.batch.config import MARKER, SUCCESS, TOOL, BatchConfig
from clf_runtime.batch.engine import ENGINE_OPTIONS, Engine
from clf_runtime.batch.engines import ENGINES
from clf_runtime.batch.inputs import find_inputs
from clf_runtime.errors import ClfError, InputError
from clf_runtime.outdir import output_folder


def engine_for(config: BatchConfig) -> Engine:
    """config.engine from the table, refusing the options it does not take."""
    engine = ENGINES.get(config.engine)
    if engine is None:
        raise InputError(f"unknown engine {config.engine!r}; choose one of {', '.join(ENGINES)}")
    for option, fix in ENGINE_OPTIONS.items():
        if getattr(config, option) is not None and option not in engine.options:
            takers = " or ".join(e.name for e in ENGINES.values() if option in e.options)
            raise InputError(f"--{option} applies to --engine {takers}; {fix.format(engine=engine.name)}")
    return engine


def run(config: BatchConfig, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Classify config.inputs into config.output with config.engine. Returns the run's summary."""
    engine = engine_for(config)
    import_pyarrow()
    skipped: list[str] = []
    files = find_inputs(config.inputs, config.output, skipped)
    summary: dict[str, Any] = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    }
    start = time.perf_counter()
    # The output must not hold what the run reads: replacing it would remove them.
    reads = [Path(f.path) for f in files if f.uri == f.path] + [Path(config.model)]
    with output_folder(config.output, TOOL, inputs=reads) as out:
        rows = engine.run(config, files, out, progress or (lambda _: None))
        if rows == 0:
            raise InputError("the input has no rows; give files with at least one row")
        summary.update(
            rows=rows,
            seconds=round(time.perf_counter() - start, 3),
            inputs=[f.uri for f in files],
            skipped=skipped,
        )
        (out / MARKER).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (out / SUCCESS).write_bytes(b"")
    return summary


def total_bytes(config: BatchConfig) -> int:
    """The summed size of the inputs, for a progress bar (0 when they cannot be listed)."""
    with contextlib.suppress(ClfError):
        return sum(f.size for f in find_inputs(config.inputs, config.output))
    return 0
