"""Predictions as table columns: the one definition every batch engine (local, Ray, Spark) writes.

A model adds these columns to each row of a table, named after the fields of `Prediction`:

    single_label  label (string), score (double)
    multi_label   labels (list of strings), score (double)
    regression    value (double)

With `scores=True`, one `score_<label>` column (double) per label is added as well (for regression
models with several outputs, one `value_<name>` per output). A `prefix` is put before every name.
A row whose text is null, empty or only whitespace (either text, for pair models) gets null in
every prediction column: null in, null out, as in SQL. An empty text and a null one are the same
thing in most tables (CSV has no null; a CSV written from a table with nulls has empty fields), so
they are treated alike whatever the file format or engine; a model's answer for an empty text
would only reflect its special tokens.

Plain Python lists only, so that this module needs neither pyarrow nor pandas; each engine turns
the lists into its own column type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clf_runtime.artifact import Manifest
from clf_runtime.classifier import TextClassifier, TextInput
from clf_runtime.errors import InputError

#: Column kinds, mapped by each engine to its own type.
STRING, DOUBLE, STRING_LIST = "string", "double", "list<string>"


@dataclass(frozen=True)
class ColumnSpec:
    """What prediction columns a model adds: (name, kind) in output order."""

    columns: tuple[tuple[str, str], ...]
    prefix: str = ""
    scores: bool = False

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def check_free(self, existing: Sequence[str]) -> None:
        """Refuse to add a column the table already has: it would be lost or ambiguous."""
        clash = [name for name in self.names if name in set(existing)]
        if clash:
            raise InputError(
                f"the input already has column(s) {', '.join(clash)}; pass a prefix for the "
                "prediction columns (clf-batch --prefix pred_)"
            )


def column_spec(manifest: Manifest, prefix: str = "", scores: bool = False) -> ColumnSpec:
    labels = manifest.labels
    if manifest.task == "regression":
        cols = [("value", DOUBLE)]
        if scores and len(labels) > 1:
            cols += [(f"value_{label}", DOUBLE) for label in labels]
    else:
        first = ("labels", STRING_LIST) if manifest.task == "multi_label" else ("label", STRING)
        cols = [first, ("score", DOUBLE)]
        if scores:
            cols += [(f"score_{label}", DOUBLE) for label in labels]
    return ColumnSpec(tuple((prefix + name, kind) for name, kind in cols), prefix, scores)


def check_text_values(values: Sequence[Any], column: str) -> None:
    """Every value must be a str or None (null); anything else means the wrong column was named."""
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str):
            raise InputError(
                f"column {column!r} holds {type(v).__name__} values (row {i} of a batch), not text; "
                "name the text column with --text-column"
            )


def _has_text(value: str | None) -> bool:
    return value is not None and not value.isspace() and value != ""


def predict_columns(
    clf: TextClassifier,
    spec: ColumnSpec,
    texts: Sequence[str | None],
    pairs: Sequence[str | None] | None = None,
    batch_size: int = 32,
) -> dict[str, list[Any]]:
    """Classify `texts` (and `pairs`, for pair models) and return spec's columns as lists."""
    n = len(texts)
    if pairs is not None and len(pairs) != n:
        raise InputError(f"{len(texts)} texts but {len(pairs)} second texts")
    keep = [i for i in range(n) if _has_text(texts[i]) and (pairs is None or _has_text(pairs[i]))]
    inputs: list[TextInput] = (
        [(texts[i], pairs[i]) for i in keep] if pairs is not None else [texts[i] for i in keep]  # type: ignore[misc]
    )
    predictions = clf.predict(inputs, batch_size=batch_size) if inputs else []
    out: dict[str, list[Any]] = {name: [None] * n for name in spec.names}
    p = spec.prefix
    task = clf.task
    for i, pred in zip(keep, predictions):
        if task == "regression":
            out[p + "value"][i] = pred.value
        else:
            if task == "multi_label":
                out[p + "labels"][i] = list(pred.labels or ())
            else:
                out[p + "label"][i] = pred.label
            out[p + "score"][i] = pred.score
        if spec.scores and pred.scores:
            kind = "value" if task == "regression" else "score"
            for label, s in pred.scores.items():
                out[f"{p}{kind}_{label}"][i] = s
    return out


def check_input_columns(
    manifest: Manifest,
    spec: ColumnSpec,
    columns: dict[str, bool],
    text_column: str,
    pair_column: str | None,
    where: str = "the input",
) -> None:
    """Check a table's columns before any work: `columns` maps each name to whether it holds text."""
    if manifest.text_pair and pair_column is None:
        raise InputError("this model classifies text pairs; name the second text's column with --pair-column")
    if not manifest.text_pair and pair_column is not None:
        raise InputError("this model classifies single texts; leave out --pair-column")
    for option, name in (("--text-column", text_column), ("--pair-column", pair_column)):
        if name is None:
            continue
        if name not in columns:
            have = ", ".join(list(columns)[:20]) or "none"
            raise InputError(f"{where} has no column {name!r} (it has: {have}); name it with {option}")
        if not columns[name]:
            raise InputError(
                f"column {name!r} of {where} does not hold text; name the text column with {option}"
            )
    spec.check_free(list(columns))
