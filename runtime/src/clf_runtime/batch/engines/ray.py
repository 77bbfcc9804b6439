"""clf-batch --engine ray: read on the Ray cluster, classify there (`clf_runtime.ray`), write parts here.

Needs the `ray` extra; Ray is imported inside `run` only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clf_runtime.batch.config import BatchConfig
from clf_runtime.batch.engine import Engine, PartWriter, check_reachable
from clf_runtime.batch.inputs import InputFile
from clf_runtime.errors import ClfError, InputError

if TYPE_CHECKING:
    import ray.data

# The fields of BatchConfig that clf_runtime.ray.RayOptions names the same.
SHARED_OPTIONS = ("text_column", "pair_column", "batch_size", "scores", "prefix", "precision")


def _connect(ray: Any, address: str | None) -> bool:
    """Join the given cluster or start a local one; True if this call started it."""
    if ray.is_initialized():
        return False
    if address not in (None, "auto", "local"):
        check_reachable(address, "Ray", "check --address, or leave it out to start a local Ray")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot start or join Ray ({exc}); check --address") from exc
    return True


def _read(ray: Any, files: list[Any]) -> ray.data.Dataset:
    import pyarrow.csv as pacsv

    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(f.fmt, []).append(f.uri)
    readers = {
        "parquet": lambda paths: ray.data.read_parquet(paths),
        "csv": lambda paths: ray.data.read_csv(
            paths, parse_options=pacsv.ParseOptions(newlines_in_values=True)
        ),
        "json": lambda paths: ray.data.read_json(paths),
    }
    parts = [readers[fmt](paths) for fmt, paths in by_format.items()]
    return parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])


def run(config: BatchConfig, files: list[InputFile], out: Path, progress: Callable[[int], None]) -> int:
    """Read `files` on the cluster, classify them there, write the parts into `out`. Returns rows."""
    from clf_runtime.ray import RayOptions, classify_with, import_ray

    ray = import_ray()
    started = _connect(ray, config.address)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # parts in input order, as the local engine
        if not sys.stderr.isatty():
            ctx.enable_progress_bars = False
        # Ray Data logs each failed task with its traceback; the error reaches the user as one line.
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        same = {name: getattr(config, name) for name in SHARED_OPTIONS}
        opts = RayOptions(**same, concurrency=config.workers, threads_per_worker=config.threads)
        writer = PartWriter(out, config.rows_per_part)
        try:
            dataset = classify_with(_read(ray, files), config.model, opts)
            for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
                writer.write(batch)
        except ray.exceptions.RayError as exc:
            raise _ray_error(exc) from None
        finally:
            writer.close()
        return writer.rows
    finally:
        if started:
            ray.shutdown()


def _ray_error(exc: BaseException) -> Exception:
    """The clf error a worker raised, if that is what failed, else one line naming the cause."""
    seen: BaseException | None = exc
    while seen is not None:
        cause = getattr(seen, "cause", None) or seen.__cause__
        if isinstance(cause, ClfError):
            return cause
        if cause is None or cause is seen:
            break
        seen = cause
    what = f"{type(seen).__name__}: {seen}" if seen is not exc and seen is not None else ""
    if not what:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        what = lines[-1] if lines else type(exc).__name__
    return InputError(
        f"a Ray task failed: {what[:300]}; check the input files (Ray's logs: /tmp/ray/session_latest/logs)"
    )


ENGINE = Engine(
    name="ray",
    extra="ray",
    run=run,
    options={"address": "a Ray address (host:port or ray://...)", "workers": "Ray actors"},
)
