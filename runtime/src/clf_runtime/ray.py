"""Classify a Ray Dataset: every input column kept, prediction columns added.

    import ray, clf_runtime.ray
    ds = ray.data.read_parquet("s3://bucket/reviews/")
    clf_runtime.ray.classify(ds, "clf-model", text_column="body").write_parquet("s3://bucket/out/")

The driver reads and verifies the artifact once and puts the files one provider needs into Ray's
object store, so workers need no shared file system; each worker (an actor of `map_batches`)
fetches them, verifies the checksums and loads the model once, then classifies batch after batch.
Workers x threads per worker never exceeds the CPUs Ray has: each actor reserves as many CPUs as
it runs threads, so ONNX Runtime's thread pools do not fight over cores.

Needs the `ray` extra (`pip install "clf-runtime[ray]"`); Ray is imported only here and in clf-batch's
ray engine (`clf_runtime.batch.engines.ray`).
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
    return classify_with(dataset, model, opts)


def classify_with(dataset: ray.data.Dataset, model: str | Path, opts: RayOptions) -> ray.data.Dataset:
    """`classify` with its options as one RayOptions (clf-batch --engine ray builds them from its config)."""
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
