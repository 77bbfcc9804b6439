"""clf_runtime.spark and clf-batch --engine spark on Spark local[2] (one session per module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pandas")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)", allow_module_level=True)

import pandas as pd
import pyarrow as pa
from click.testing import CliRunner

import clf_runtime.spark as clf_spark
from clf_runtime.cli.batch import main
from clf_runtime.errors import InputError

from .batch_helpers import assert_matches, read_output, table, write
from .conftest import fixture_path


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("clf-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("FATAL")
    yield session
    session.stop()


def collect(df) -> pa.Table:  # type: ignore[no-untyped-def]
    return pa.Table.from_pylist([r.asDict(recursive=True) for r in df.collect()]).sort_by("id")


def test_classify_dataframe_loads_the_model_once_per_worker(spark) -> None:  # type: ignore[no-untyped-def]
    given = table("tiny-bert", n=40, null_at=5)
    df = spark.createDataFrame(given.to_pandas()).repartition(6)  # more tasks than the 2 slots
    got = collect(clf_spark.classify(df, fixture_path("tiny-bert"), precision="fp32"))
    assert got.column_names == [*given.column_names, "label", "score"]
    assert_matches("tiny-bert", got, given)

    # Python workers are reused across tasks: each loaded the model once, not once per task. A
    # second pandas UDF runs in those same workers and reads their load counters.
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("long")
    def loads_here(s: pd.Series) -> pd.Series:
        import clf_runtime.spark as mod

        return pd.Series([mod._LOADS] * len(s))

    counts = {r.n for r in df.select(loads_here("text").alias("n")).collect()}
    assert counts <= {0, 1} and 1 in counts, counts


def test_pair_and_multi_label_models(spark) -> None:  # type: ignore[no-untyped-def]
    pairs = table("tiny-pair", n=20)
    df = spark.createDataFrame(pairs.to_pandas())
    with pytest.raises(InputError, match="--pair-column"):
        clf_spark.classify(df, fixture_path("tiny-pair"))
    got = collect(clf_spark.classify(df, fixture_path("tiny-pair"), pair_column="other", precision="fp32"))
    assert_matches("tiny-pair", got, pairs)

    multi = table("tiny-multi", n=20)
    udf = clf_spark.prediction_udf(fixture_path("tiny-multi"), precision="fp32", spark=spark)
    rows = spark.createDataFrame(multi.to_pandas()).select("id", "text", udf("text").alias("p")).collect()
    flat = pa.Table.from_pylist([{"id": r.id, "text": r.text, **r.p.asDict()} for r in rows]).sort_by("id")
    assert_matches("tiny-multi", flat, multi.select(["id", "text"]))


def test_clf_batch_engine_spark(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    given = table("tiny-bert", n=30)
    src = write(given, tmp_path / "in.csv")
    out = tmp_path / "out"
    model = str(fixture_path("tiny-bert"))
    result = CliRunner().invoke(
        main, [str(src), "-o", str(out), "-m", model, "--engine", "spark", "--precision", "fp32"]
    )
    assert result.exit_code == 0, result.output
    assert_matches("tiny-bert", read_output(out), given)

    result = CliRunner().invoke(
        main,
        [str(src), "-o", str(tmp_path / "o2"), "-m", model, "--engine", "spark", "--text-column", "body"],
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: the DataFrame has no column 'body' (it has: id, text, amount); name it with --text-column"
    ]
    assert not (tmp_path / "o2").exists()
