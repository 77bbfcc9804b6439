"""clf-batch --engine local: record batches streamed through one TextClassifier in this process.

Memory stays flat whatever the input size. Needs pyarrow (the `batch` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clf_runtime.batch.config import BatchConfig
from clf_runtime.batch.engine import Engine, PartWriter
from clf_runtime.batch.inputs import InputFile, read_batches


def run(config: BatchConfig, files: list[InputFile], out: Path, progress: Callable[[int], None]) -> int:
    """Classify `files` into parts under `out` with one TextClassifier. Returns the row count."""
    from clf_runtime.arrow import add_predictions, text_columns
    from clf_runtime.classifier import TextClassifier
    from clf_runtime.columns import check_input_columns, column_spec

    clf = TextClassifier.load(
        config.model, provider="cpu", threads=config.threads, precision=config.precision
    )
    spec = column_spec(clf.manifest, config.prefix, config.scores)
    writer = PartWriter(out, config.rows_per_part)
    base = 0
    try:
        for f in files:
            checked = False
            for batch in read_batches(f, 4096, lambda n, base=base: progress(base + n)):
                if not checked:
                    cols = text_columns(batch.schema)
                    check_input_columns(
                        clf.manifest, spec, cols, config.text_column, config.pair_column, f.uri
                    )
                    checked = True
                if batch.num_rows:
                    writer.write(
                        add_predictions(
                            clf, spec, batch, config.text_column, config.pair_column, config.batch_size
                        )
                    )
            base += f.size
            progress(base)
    finally:
        writer.close()
    return writer.rows


ENGINE = Engine(name="local", extra="batch", run=run, in_process=True)
