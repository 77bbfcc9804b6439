"""The library behind `clf-batch`: classify table files into a folder of Parquet parts.

Every input column is kept and the prediction columns of `clf_runtime.columns` are added. Needs
pyarrow (the `batch` extra); each engine names the extra it needs.

    inputs.py     the input files, each read once (`find_inputs`, `read_batches`)
    config.py     `BatchConfig`, the names of the files in the output folder
    job.py        one run: the engine from the table, its options checked, the output folder
    engine.py     the `Engine` interface; `PartWriter` and `check_reachable` for engines
    engines/      one module per engine (local, ray, spark), found by `engines.ENGINES`

`clf_runtime.ray` and `clf_runtime.spark` are the libraries for users' own Ray Datasets and Spark
DataFrames; the ray and spark engines run clf-batch's inputs through them.
"""

from __future__ import annotations

from clf_runtime.batch.config import BatchConfig
from clf_runtime.batch.engine import Engine
from clf_runtime.batch.engines import ENGINES
from clf_runtime.batch.inputs import InputFile, find_inputs
from clf_runtime.batch.job import run, total_bytes

__all__ = ["ENGINES", "BatchConfig", "Engine", "InputFile", "find_inputs", "run", "total_bytes"]
