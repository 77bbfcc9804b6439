"""Classify a Ray Dataset: every input column kept, prediction columns added.

    import ray, clf_runtime.ray
    ds = ray.data.read_parquet("s3://bucket/reviews/")
    clf_runtime.ray.classify(ds, "clf-model", text_column="body").write_parquet("s3://bucket/out/")

The driver reads and verifies the artifact once and puts the files one provider needs into Ray's
object store, so workers need no shared file system; each worker (an actor of `map_batches`)
fetches them, verifies the checksums and loads the model once, then classifies batch after batch.
Workers x threads per worker never exceeds the CPUs Ray has: each actor reserves as many CPUs as
it runs threads, so ONNX Runtime's thread pools do not fight over cores.

Needs the `ray` extra (`pip install "clf-runtime[ray]"`); Ray is imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clf_runtime.columns import ColumnSpec, check_input_columns, column_spec
from clf_runtime.errors import InputError
from clf_runtime.shipping import PackedModel, load_packed, pack

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

INSTALL_HINT = 'the ray engine needs Ray Data: pip install "clf-runtime[ray]"'


def import_ray():  # type: ignore[no-untyped-def]
    """The `ray` module, or an InputError saying how to install it."""
    try:
        import ray
        import ray.data  # fails without ray[data]'s pyarrow and pandas
    except ImportError as exc:
        raise InputError(INSTALL_HINT) from exc
    return ray


def plan_workers(cpus: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """(workers, threads per worker) with workers x threads <= cpus; one single-thread worker per CPU
    unless told otherwise."""
    cpus = max(1, cpus)
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise InputError(f"threads per worker must be at least 1, got {threads}")
    if workers is None:
        threads = threads or 1
        workers = max(1, cpus // threads)
    elif threads is None:
        threads = max(1, cpus // workers)
    if workers * threads > cpus:
        raise InputError(
            f"{workers} workers x {threads} threads need {workers * threads} CPUs, Ray has {cpus}; "
            "ask for fewer workers or threads"
        )
    return workers, threads


class Predictor:
    """One Ray actor: loads the model once, then adds predictions to each Arrow batch it is given."""

    def __init__(
        self,
        packed: list[Any],
        spec: ColumnSpec,
        text_column: str,
        pair_column: str | None,
        threads: int,
        batch_size: int,
    ) -> None:
        import ray

        # A list around the reference keeps Ray from resolving it before __init__; ray.get here
        # reads it from the object store (zero-copy on the same node).
        model: PackedModel = ray.get(packed[0])
        self.clf = load_packed(model, threads=threads)
        self.spec = spec
        self.text_column = text_column
        self.pair_column = pair_column
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        from clf_runtime.arrow import add_predictions

        return add_predictions(
            self.clf, self.spec, batch, self.text_column, self.pair_column, batch_size=self.batch_size
        )


@dataclass(frozen=True)
class RayOptions:
    text_column: str = "text"
    pair_column: str | None = None
    batch_size: int = 32  # texts per model run, as TextClassifier.predict
    rows_per_batch: int = 1024  # rows per map_batches call: enough for length sorting to pad little
    concurrency: int | None = None  # workers; None: one per CPU / threads_per_worker
    threads_per_worker: int | None = None  # None: CPUs // workers
    scores: bool = False
    prefix: str = ""
    provider: str = "cpu"
    precision: str | None = None


def classify(
    dataset: ray.data.Dataset,
    model: str | Path,
    text_column: str = "text",
    pair_column: str | None = None,
    *,
    batch_size: int = 32,
    rows_per_batch: int = 1024,
    concurrency: int | None = None,
    threads_per_worker: int | None = None,
    scores: bool = False,
    prefix: str = "",
    provider: str = "cpu",
    precision: str | None = None,
) -> ray.data.Dataset:
    """`dataset` with prediction columns added (see `clf_runtime.columns`); lazy, like any Ray Data step.

    Starts a local Ray if none is running. Raises InputError for a missing or non-text column, a
    pair model without `pair_column`, or more workers x threads than Ray's CPUs.
    """
    opts = RayOptions(
        text_column,
        pair_column,
        batch_size=batch_size,
        rows_per_batch=rows_per_batch,
        concurrency=concurrency,
        threads_per_worker=threads_per_worker,
        scores=scores,
        prefix=prefix,
        provider=provider,
        precision=precision,
    )
    return _classify(dataset, model, opts)


def _classify(dataset: ray.data.Dataset, model: str | Path, opts: RayOptions) -> ray.data.Dataset:
    ray = import_ray()
    from clf_runtime.arrow import text_columns

    if opts.batch_size < 1 or opts.rows_per_batch < 1:
        raise InputError(f"batch sizes must be at least 1, got {opts.batch_size} and {opts.rows_per_batch}")
    packed = pack(model, opts.provider, opts.precision)
    spec = column_spec(packed.manifest, opts.prefix, opts.scores)
    schema = dataset.schema()
    if schema is None:
        raise InputError("the dataset has no columns (is it empty?); give a dataset with a text column")
    columns = text_columns(_arrow_schema(schema))
    check_input_columns(packed.manifest, spec, columns, opts.text_column, opts.pair_column, "the dataset")
    if not ray.is_initialized():
        ray.init()
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers, threads = plan_workers(cpus, opts.concurrency, opts.threads_per_worker)
    ref = ray.put(packed)
    return dataset.map_batches(
        Predictor,
        batch_format="pyarrow",
        batch_size=opts.rows_per_batch,
        # min_size=1, not size=workers: actors holding every CPU from the start left none for the
        # read tasks feeding them, and the pipeline hung (seen with 2 workers on num_cpus=2).
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=threads,
        zero_copy_batch=True,
        fn_constructor_kwargs={
            "packed": [ref],
            "spec": spec,
            "text_column": opts.text_column,
            "pair_column": opts.pair_column,
            "threads": threads,
            "batch_size": opts.batch_size,
        },
    )


def _arrow_schema(schema: Any) -> pa.Schema:
    """Ray's Schema as pyarrow's: arrow types, or numpy/pandas dtypes for pandas-backed blocks."""
    import pyarrow as pa

    base = getattr(schema, "base_schema", None)
    if isinstance(base, pa.Schema):
        return base
    fields = []
    for name, dtype in zip(schema.names, schema.types):
        if not isinstance(dtype, pa.DataType):  # object columns of pandas hold the strings
            dtype = pa.string() if str(dtype) in ("object", "str", "string") else pa.float64()
        fields.append(pa.field(name, dtype))
    return pa.schema(fields)


# --- the ray engine of clf-batch -------------------------------------------------------------------


def _connect(ray: Any, address: str | None) -> bool:
    """Join the given cluster or start a local one; True if this call started it."""
    if ray.is_initialized():
        return False
    if address not in (None, "auto", "local"):
        from clf_runtime.batch import check_reachable

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


def run_batch(config: Any, files: list[Any], out: Path) -> int:
    """clf-batch --engine ray: read on the cluster, classify there, write parts here. Returns rows."""
    import logging
    import sys

    from clf_runtime.batch import PartWriter

    ray = import_ray()
    started = _connect(ray, config.address)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # parts in input order, as the local engine
        if not sys.stderr.isatty():
            ctx.enable_progress_bars = False
        # Ray Data logs each failed task with its traceback; the error reaches the user as one line.
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        opts = RayOptions(
            config.text_column,
            config.pair_column,
            batch_size=config.batch_size,
            concurrency=config.workers,
            threads_per_worker=config.threads,
            scores=config.scores,
            prefix=config.prefix,
            precision=config.precision,
        )
        writer = PartWriter(out, config.rows_per_part)
        try:
            dataset = _classify(_read(ray, files), config.model, opts)
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
    from clf_runtime.errors import ClfError

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
