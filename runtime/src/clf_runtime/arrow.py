"""Prediction columns as Arrow arrays: shared by the local engine of clf-batch and by Ray Data.

Needs pyarrow (the `batch` or `ray` extra); imported only by the modules that run those engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clf_runtime.classifier import TextClassifier
from clf_runtime.columns import DOUBLE, STRING, STRING_LIST, ColumnSpec, check_text_values, predict_columns
from clf_runtime.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa


def import_pyarrow():  # type: ignore[no-untyped-def]
    try:
        import pyarrow
    except ImportError as exc:
        raise InputError('clf-batch needs pyarrow: pip install "clf-runtime[batch]"') from exc
    return pyarrow


def arrow_type(kind: str) -> pa.DataType:
    pa = import_pyarrow()
    return {STRING: pa.string(), DOUBLE: pa.float64(), STRING_LIST: pa.list_(pa.string())}[kind]


def is_text(dtype: pa.DataType) -> bool:
    pa = import_pyarrow()
    return bool(
        pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype)
    ) or bool(getattr(pa.types, "is_string_view", lambda _: False)(dtype))


def text_columns(schema: pa.Schema) -> dict[str, bool]:
    """Each column's name and whether it holds text, as `columns.check_input_columns` wants."""
    return {field.name: is_text(field.type) for field in schema}


def add_predictions(
    clf: TextClassifier,
    spec: ColumnSpec,
    table: pa.Table | pa.RecordBatch,
    text_column: str,
    pair_column: str | None = None,
    batch_size: int = 32,
) -> pa.Table:
    """`table` with the prediction columns appended (every input column kept, in order)."""
    pa = import_pyarrow()
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    texts = table.column(text_column).to_pylist()
    check_text_values(texts, text_column)
    pairs = None
    if pair_column is not None:
        pairs = table.column(pair_column).to_pylist()
        check_text_values(pairs, pair_column)
    values = predict_columns(clf, spec, texts, pairs, batch_size=batch_size)
    for name, kind in spec.columns:
        table = table.append_column(
            pa.field(name, arrow_type(kind)), pa.array(values[name], arrow_type(kind))
        )
    return table
