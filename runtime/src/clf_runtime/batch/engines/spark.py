"""clf-batch --engine spark: executors read the files, classify them (`clf_runtime.spark`), write the parts.

Needs the `spark` extra and Java 17; PySpark is imported inside `run` only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clf_runtime.batch.config import BatchConfig
from clf_runtime.batch.engine import Engine, check_reachable
from clf_runtime.batch.inputs import InputFile
from clf_runtime.errors import ClfError, InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

JAVA_HINT = "Spark needs Java 17: install it (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"


def _session(address: str | None, workers: int | None) -> tuple[SparkSession, bool]:
    """The active session, or a new one on `address` (default local[workers or *]); True if new."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    if address and address.startswith(("spark://", "sc://")):
        for one in address.split("://", 1)[1].split(","):
            check_reachable(one, "Spark", "check --address, or leave it out to run Spark locally")
    master = address or f"local[{workers or '*'}]"
    builder = SparkSession.builder.master(master).appName("clf-batch")
    builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "true")
    # Python workers run this interpreter, which has clf-runtime, unless the user chose another
    # (SparkContext reads the variable when it starts; there is no session option for local mode).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("FATAL")  # errors reach the user as one line from us
        return spark, True
    except Exception as exc:  # py4j/pyspark raise their own types for a JVM that does not start
        text = str(exc)
        if "JAVA" in text.upper():
            raise InputError(JAVA_HINT) from exc
        raise InputError(f"cannot start Spark on {master}: {text.splitlines()[0] if text else exc}") from exc


def _read(spark: SparkSession, files: list[InputFile]) -> DataFrame:
    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(f.fmt, []).append(f.uri)
    frames = []
    for fmt, paths in by_format.items():
        if fmt == "parquet":
            frames.append(spark.read.parquet(*paths))
        elif fmt == "csv":
            reader = spark.read.option("header", True).option("inferSchema", True)
            # RFC 4180 as pyarrow reads it: "" escapes a quote, quoted fields may hold newlines.
            reader = reader.option("multiLine", True).option("escape", '"')
            # An empty field stays an empty text in the output, as pyarrow (local and Ray engines)
            # reads it, not null (both get null predictions: clf_runtime.columns).
            reader = reader.option("nullValue", "\u0000")
            frames.append(reader.csv(paths))
        else:
            frames.append(spark.read.json(paths))
    out = frames[0]
    for other in frames[1:]:
        out = out.unionByName(other, allowMissingColumns=True)
    return out


def run(config: BatchConfig, files: list[InputFile], out: Path, progress: Callable[[int], None]) -> int:
    """Executors classify `files` and write the parts into `out`. Returns the row count."""
    import pyarrow.parquet as pq

    from clf_runtime.spark import classify, import_pyspark, spark_error

    import_pyspark()
    spark, started = _session(config.address, config.workers)
    try:
        threads = config.threads or 1  # one Python worker per task slot, one slot per core
        try:
            df = classify(
                _read(spark, files),
                config.model,
                config.text_column,
                config.pair_column,
                scores=config.scores,
                prefix=config.prefix,
                threads=threads,
                batch_size=config.batch_size,
                precision=config.precision,
            )
            df.write.mode("overwrite").parquet(str(out))
        except ClfError:
            raise
        except Exception as exc:  # AnalysisException, PythonException, Py4JJavaError
            raise spark_error(exc) from None
    finally:
        if started:
            spark.stop()
    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(out.glob("part-*.parquet")))


ENGINE = Engine(
    name="spark",
    extra="spark",
    run=run,
    options={
        "address": "a Spark master URL (spark://, sc:// or local[N])",
        "workers": "Spark's local[N] without --address",
    },
)
