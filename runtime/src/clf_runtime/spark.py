"""Classify a Spark DataFrame: a batched pandas UDF that returns a struct of prediction fields.

    from clf_runtime.spark import classify, prediction_udf
    classify(df, "clf-model", text_column="body")            # df with label, score, ... added
    df.select("id", prediction_udf("clf-model")("body").alias("p"))  # the struct itself

The driver reads and verifies the artifact once and ships the files one provider needs with the job
(`SparkContext.addFile`), so executors need no shared file system; pass `shared_path=True` to have
them read the model folder directly instead. Each Python worker loads the model once (a cache in
this module, which survives across tasks because Spark reuses Python workers) with checksum
verification, then classifies Arrow batches of `spark.sql.execution.arrow.maxRecordsPerBatch` rows.
Rows whose text is null, empty or blank get null predictions (clf_runtime.columns).

Needs the `spark` extra (`pip install "clf-runtime[spark]"`) and Java 17; Spark is imported only here
and in clf-batch's spark engine (`clf_runtime.batch.engines.spark`).
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clf_runtime.columns import DOUBLE, STRING, ColumnSpec, check_input_columns, column_spec, predict_columns
from clf_runtime.errors import ClfError, InputError
from clf_runtime.shipping import PackedModel, pack, unpack

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from clf_runtime.classifier import TextClassifier

INSTALL_HINT = 'the spark engine needs PySpark: pip install "clf-runtime[spark]"'

# One model per Python worker process, keyed by (where it comes from, content key).
_MODELS: dict[tuple[str, str], TextClassifier] = {}
_LOCK = threading.Lock()
_LOADS = 0  # how many models this process loaded (a test checks it stays at one per worker)


def import_pyspark():  # type: ignore[no-untyped-def]
    # PySpark 4.x warns on every UDF that it "does not yet fully support pandas >= 3"; the UDFs here
    # hand it object columns of str/float/list, which it converts fine.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    try:
        import pandas  # noqa: F401  # pandas UDFs need it
        import pyarrow  # noqa: F401
        import pyspark
        import pyspark.sql
    except ImportError as exc:
        raise InputError(INSTALL_HINT) from exc
    return pyspark


def _struct_type(spec: ColumnSpec) -> Any:
    from pyspark.sql import types as T

    kinds = {STRING: T.StringType(), DOUBLE: T.DoubleType()}
    fields = [T.StructField(n, kinds.get(k, T.ArrayType(T.StringType())), True) for n, k in spec.columns]
    return T.StructType(fields)


def _worker_model(
    source: str, key: str, shared: bool, threads: int, provider: str, precision: str
) -> TextClassifier:
    """The model of this Python worker, loaded (and verified) on first use."""
    global _LOADS
    from clf_runtime.classifier import TextClassifier

    with _LOCK:
        clf = _MODELS.get((source, key))
        if clf is None:
            folder = source
            if not shared:
                from pyspark import SparkFiles

                folder = SparkFiles.get(source)
            clf = TextClassifier.load(
                folder, provider=provider, precision=precision, threads=threads, verify=True
            )
            _MODELS[(source, key)] = clf
            _LOADS += 1
        return clf


def _texts(series: Any) -> list[str | None]:
    """A pandas column as str or None (pandas may hand missing strings over as NaN)."""
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in series.tolist()]


def prediction_udf(
    model: str | Path,
    *,
    scores: bool = False,
    prefix: str = "",
    threads: int = 1,
    batch_size: int = 32,
    provider: str = "cpu",
    precision: str | None = None,
    shared_path: bool = False,
    spark: SparkSession | None = None,
) -> Any:
    """A pandas UDF: call it on the text column (and the second-text column for pair models).

    threads: ONNX Runtime threads per Python worker; Spark runs one worker per task slot, so keep
    slots x threads within the executor's cores (the default 1 fits one slot per core).
    """
    import_pyspark()
    from pyspark.sql import SparkSession

    packed = pack(model, provider, precision)
    spec = column_spec(packed.manifest, prefix, scores)
    session = spark or SparkSession.builder.getOrCreate()
    return _make_udf(packed, spec, model, shared_path, threads, batch_size, session)


def _make_udf(
    packed: PackedModel,
    spec: ColumnSpec,
    model: str | Path,
    shared_path: bool,
    threads: int,
    batch_size: int,
    spark: SparkSession,
) -> Any:
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    if threads < 1 or batch_size < 1:
        raise InputError(f"threads and batch_size must be at least 1, got {threads} and {batch_size}")
    source = str(Path(model).resolve()) if shared_path else _ship(spark, packed)
    load = (source, packed.key, shared_path, threads, packed.provider, packed.precision)
    names = spec.names

    def predict(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        clf = _worker_model(*load)
        for batch in batches:
            if isinstance(batch, tuple):
                cols = predict_columns(clf, spec, _texts(batch[0]), _texts(batch[1]), batch_size)
            else:
                cols = predict_columns(clf, spec, _texts(batch), None, batch_size)
            yield pd.DataFrame({n: pd.Series(cols[n], dtype=object) for n in names})

    # pandas_udf picks the UDF kind from the hints: an iterator of Series, or of (Series, Series)
    # tuples for pairs. Set as objects: this module's string annotations would not resolve.
    arg = tuple[pd.Series, pd.Series] if packed.manifest.text_pair else pd.Series

    def predict_iter(batches):  # type: ignore[no-untyped-def]
        return predict(batches)

    predict_iter.__annotations__ = {"batches": Iterator[arg], "return": Iterator[pd.DataFrame]}
    return pandas_udf(predict_iter, _struct_type(spec))  # type: ignore[call-overload]


def _ship(spark: SparkSession, packed: PackedModel) -> str:
    """Add the packed files to the job once; executors find them under the returned name."""
    import tempfile

    name = f"clf-model-{packed.key}"
    sc = spark.sparkContext
    already = getattr(sc, "_clf_shipped", set())
    if name not in already:
        folder = unpack(packed, tempfile.mkdtemp(prefix="clf-spark-"))
        sc.addFile(str(folder), recursive=True)
        already.add(name)
        sc._clf_shipped = already  # type: ignore[attr-defined]
    return name


def classify(
    df: DataFrame,
    model: str | Path,
    text_column: str = "text",
    pair_column: str | None = None,
    *,
    scores: bool = False,
    prefix: str = "",
    threads: int = 1,
    batch_size: int = 32,
    provider: str = "cpu",
    precision: str | None = None,
    shared_path: bool = False,
) -> DataFrame:
    """`df` with the prediction columns of `clf_runtime.columns` added after its own (lazy).

    Options as in `prediction_udf`. Raises InputError for a missing or non-text column, or a pair
    model without `pair_column`.
    """
    import_pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    packed = pack(model, provider, precision)
    spec = column_spec(packed.manifest, prefix, scores)
    columns = {f.name: isinstance(f.dataType, T.StringType | T.NullType) for f in df.schema.fields}
    check_input_columns(packed.manifest, spec, columns, text_column, pair_column, "the DataFrame")
    udf = _make_udf(packed, spec, model, shared_path, threads, batch_size, df.sparkSession)
    inputs = [_col(text_column)] + ([_col(pair_column)] if pair_column else [])
    tmp = "__clf_prediction"
    out = df.withColumn(tmp, udf(*inputs))
    return out.select(*[_col(c) for c in df.columns], *[F.col(tmp)[n].alias(n) for n in spec.names])


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def spark_error(exc: BaseException) -> ClfError:
    """One line for an error raised on an executor: the clf error it carries, else its first line."""
    text = str(exc)
    found = re.findall(r"clf_runtime\.errors\.\w+: (.+)", text)
    if found:
        return InputError(found[-1].strip())
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    return InputError(f"Spark failed: {first.strip()[:300]}")
