"""Reading labelled data: files -> texts, labels and the task, with errors a user can act on.

Label order (the model's output columns) is stable and documented: labels sorted as numbers when
they all are integers, else as strings. The same data therefore always gives the same ids.
Task detection (overridable): float labels -> regression; lists (JSONL) or labels containing the
separator -> multi-label; anything else -> single-label.

Everything is checked before any training, and each problem is one InputError naming the file,
the column and the data rows (counted from 1, the header not counted):
- a column name the file holds twice (CSV/TSV header, Parquet schema, a JSON line's keys), when it
  is one of the columns read: which of the two was meant cannot be known;
- a null, NaN or infinite label (also "nan", "inf" written as text): a missing value, not a class;
- labels of mixed types in one column (JSONL/Parquet: numbers and strings, lists and strings,
  true/false), or a null inside a list of labels;
- a task guess that rests on a handful of odd values: fractional numbers with a few words among
  them would make every number a class of its own, which is refused (fix the rows, or force
  `--task single-label`); a few fractional numbers among whole ones (regression) or a few labels
  holding the separator (multi-label) are accepted with a note (`TaskData.notes`, logged as a
  warning) saying what was decided and how to force the other.
"""

from __future__ import annotations

import json
import logging
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clf_runtime.datafile import data_file_suffix
from clf_runtime.errors import InputError
from clf_runtime.jsonl import write_jsonl
from clf_runtime.oserrors import os_error_message
from clf_train.handoff import labelled_rows

#: A task guess "rests on a handful" of labels when at most this many, or this share, decided it.
HANDFUL, HANDFUL_SHARE = 5, 0.1

log = logging.getLogger("clf_train")


@dataclass(frozen=True)
class Split:
    texts: list[str]
    pairs: list[str] | None
    labels: list[Any]  # str, list[str] or float per row

    def __len__(self) -> int:
        return len(self.texts)

    def inputs(self) -> list[Any]:
        return self.texts if self.pairs is None else list(zip(self.texts, self.pairs, strict=True))


@dataclass(frozen=True)
class TaskData:
    task: str  # single_label, multi_label, regression
    label_names: tuple[str, ...]
    train: Split
    validation: Split
    test: Split | None = None
    notes: tuple[str, ...] = ()  # what the task guess decided on thin evidence (see the docstring)

    @property
    def text_pair(self) -> bool:
        return self.train.pairs is not None


def read_table(path: Path, columns: tuple[str, ...] = ()):  # -> pandas.DataFrame
    """The file as a DataFrame; `columns` (those the caller reads) must not be named twice in it."""
    import pandas as pd

    path = Path(path)
    suffix = data_file_suffix(path, "data file")
    try:
        _refuse_duplicate_columns(path, suffix, columns)
        # pandas splits lines at \n and \r only (not at U+2028, U+0085 or form feeds inside texts).
        if suffix == ".parquet":
            frame = pd.read_parquet(path, columns=_parquet_columns(path))
        elif suffix in (".jsonl", ".json"):
            frame = pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
        else:
            sep = "\t" if suffix in (".tsv", ".txt") else ","
            frame = pd.read_csv(path, sep=sep, encoding="utf-8", keep_default_na=False, dtype=str)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not valid UTF-8 (byte {exc.start}): convert it to UTF-8") from exc
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot parse {path}: {first}") from exc
    except ImportError as exc:
        raise InputError(f"reading {suffix} needs pyarrow: pip install pyarrow ({exc})") from exc
    except OSError as exc:
        raise InputError(os_error_message(exc, "cannot read the data file")) from exc
    if len(frame) == 0:
        raise InputError(f"data file {path} has a header but no rows")
    return frame


def _refuse_duplicate_columns(path: Path, suffix: str, columns: tuple[str, ...]) -> None:
    """pandas renames a repeated CSV header to `label.1`, a JSON line keeps the last of two keys, a
    Parquet file with two `label` columns fails deep inside pyarrow: refuse each, naming it."""
    wanted = set(columns)
    if not wanted:
        return
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (OSError, ValueError):
            return  # not Parquet: the reader says so
        _repeated(path, names, wanted, "")
    elif suffix in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            for row, line in enumerate(f, 1):
                if line.strip():
                    objects: list[list[str]] = []  # innermost first: the row's own keys come last
                    try:
                        json.loads(line, object_pairs_hook=lambda kv, o=objects: o.append([k for k, _ in kv]))
                    except ValueError:
                        return  # not JSON: the reader says so
                    if objects:
                        _repeated(path, objects[-1], wanted, f", data row {row}")
    else:
        import csv

        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f, delimiter="\t" if suffix in (".tsv", ".txt") else ","), [])
        _repeated(path, [h.strip() for h in header], wanted, " (header)")


def _parquet_columns(path: Path) -> list[str] | None:
    """Every column whose name is unique (pyarrow cannot read a file by a repeated name); None: all."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError):
        return None  # not Parquet: pandas says so
    return None if len(set(names)) == len(names) else [n for n in names if names.count(n) == 1]


def _repeated(path: Path, names: list[str], wanted: set[str], where: str) -> None:
    for name in sorted(wanted):
        at = [i + 1 for i, n in enumerate(names) if n == name]
        if len(at) > 1:
            raise InputError(
                f"{path}{where}: column {name!r} appears {len(at)} times (columns "
                f"{', '.join(map(str, at))}); rename or remove the extra one so it is clear which to read"
            )


def _column(frame, name: str, path: Path, option: str) -> list[Any]:
    if name not in frame.columns:
        found = ", ".join(map(str, frame.columns))
        raise InputError(f"{path} has no column {name!r} (found: {found}); pass {option} with the right name")
    return frame[name].tolist()


def _texts(values: list[Any], path: Path, column: str) -> list[str]:
    texts = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
    empty = [i + 1 for i, t in enumerate(texts) if not t.strip()]
    if empty:
        rows = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
        raise InputError(
            f"{path}: {len(empty)} empty text(s) in column {column!r} (data rows {rows}); remove or fill them"
        )
    return texts


def _rows(rows: list[int]) -> str:
    """1-based data rows, at most 10 shown: "row 3" / "rows 3, 7, ..."."""
    shown = ", ".join(str(i + 1) for i in rows[:10]) + (", ..." if len(rows) > 10 else "")
    return f"data row{'s' if len(rows) > 1 else ''} {shown}"


def _number(value: Any) -> float | None:
    """The label as a float (ints, floats, numeric strings), else None. May be NaN or infinite."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except (ValueError, OverflowError):
        return None


def _is_number(value: Any) -> bool:
    return _number(value) is not None


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' missing values


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "lists"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "numbers"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def check_labels(values: list[Any], path: Path, column: str) -> list[Any]:
    """The label column as plain Python values, or one InputError naming the file, rows and column:
    null/NaN, infinite, mixed types, unusable values (see the module docstring)."""
    values = [v.tolist() if hasattr(v, "tolist") and not isinstance(v, str) else v for v in values]
    where = f"{path}, column {column!r}"
    missing = [i for i, v in enumerate(values) if _missing(v)]
    if missing:
        raise InputError(
            f"{where}: {len(missing)} missing label(s) (null or NaN) at {_rows(missing)}; "
            "fill them or remove those rows"
        )
    bad = [i for i, v in enumerate(values) if (n := _number(v)) is not None and not math.isfinite(n)]
    if bad:
        raise InputError(
            f"{where}: label {values[bad[0]]!r} at {_rows(bad)} is not a finite number "
            "(NaN marks a missing value, inf an overflow); fix or remove those rows"
        )
    kinds: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        kinds.setdefault(_kind(v), []).append(i)
    odd = [k for k in kinds if k not in ("lists", "true/false", "numbers", "text")]
    if odd:
        rows = kinds[odd[0]]
        raise InputError(
            f"{where}: {_rows(rows)} hold a {odd[0]}, not a label; write labels as text or lists"
        )
    if len(kinds) > 1:
        parts = [f"{k} ({_rows(rows)})" for k, rows in sorted(kinds.items(), key=lambda kv: -len(kv[1]))]
        raise InputError(
            f"{where} mixes label types: {' and '.join(parts)}; write every label the same way "
            "(all text, all numbers or, for multi-label, all lists)"
        )
    if "lists" in kinds:
        for i, items in enumerate(values):
            if any(_missing(x) or isinstance(x, list | dict) for x in items):
                raise InputError(
                    f"{where}, data row {i + 1}: the label list {items!r} holds a null or a nested "
                    "value; write each label as a string"
                )
    return values


def guess_task(labels: list[Any], separator: str, where: str = "the labels") -> tuple[str, str | None]:
    """(task, note): the task the labels suggest, and a note when a handful of labels decided it.

    `labels` must have passed check_labels. Raises InputError when the guess would be nonsense
    (fractional numbers made classes because a few labels are not numbers)."""
    n = len(labels)
    if any(isinstance(v, list) for v in labels):
        return "multi_label", None
    numbers = [_number(v) for v in labels]
    words = [i for i, x in enumerate(numbers) if x is None and str(labels[i]).strip()]  # "": empty
    fractional = [i for i, x in enumerate(numbers) if x is not None and not x.is_integer()]
    if fractional and not words:
        note = None
        if _handful(len(fractional), n):
            note = (
                f"labels read as regression: {len(fractional)} of {n} {_are(len(fractional))} not whole "
                f"numbers ({_rows(fractional)}: {_examples(labels, fractional)}); to train classes instead, "
                "fix those rows and pass --task single-label"
            )
        return "regression", note
    if fractional and _handful(len(words), n):
        odd = f"{len(words)} is not a number" if len(words) == 1 else f"{len(words)} are not numbers"
        raise InputError(
            f"{where}: labels look like regression targets ({n - len(words)} of {n} are numbers, some "
            f"with fractions) but {odd} ({_rows(words)}: {_examples(labels, words)}); fix those rows, "
            "or pass --task single-label to make every distinct value a class"
        )
    split = [i for i, v in enumerate(labels) if separator in str(v)]
    if split:
        note = None
        if _handful(len(split), n):
            note = (
                f"labels read as multi-label: {len(split)} of {n} hold the separator {separator!r} "
                f"({_rows(split)}: {_examples(labels, split)}); to keep such labels whole, pass "
                "--task single-label (or choose another --label-separator)"
            )
        return "multi_label", note
    return "single_label", None


def _are(k: int) -> str:
    return "is" if k == 1 else "are"


def _handful(k: int, n: int) -> bool:
    return 0 < k < n / 2 and (k <= HANDFUL or k <= n * HANDFUL_SHARE)


def _examples(labels: list[Any], rows: list[int]) -> str:
    return ", ".join(repr(labels[i]) for i in rows[:3]) + (", ..." if len(rows) > 3 else "")


def detect_task(labels: list[Any], separator: str) -> str:
    return guess_task(labels, separator)[0]


def _parse_labels(values: list[Any], task: str, separator: str, path: Path, column: str) -> list[Any]:
    where = f"{path}, column {column!r}"
    if task == "regression":
        empty = [i for i, v in enumerate(values) if str(v).strip() == ""]
        if empty:
            raise InputError(
                f"{where}: {len(empty)} empty label(s) at {_rows(empty)}; fill them or remove those rows"
            )
        out = []
        for i, v in enumerate(values):
            number = _number(v)
            if number is None:
                raise InputError(
                    f"{where}, data row {i + 1}: regression label {v!r} is not a number; "
                    "fix it or choose --task single-label"
                )
            out.append(number)
        return out
    if task == "multi_label":
        out = []
        for v in values:
            items = v if isinstance(v, list) else str(v).split(separator)
            out.append(sorted({_label_text(x) for x in items if _label_text(x)}))
        return out
    out = []
    empty = []
    for i, v in enumerate(values):
        label = _label_text(v)
        if not label:
            empty.append(i)
        out.append(label)
    if empty:
        raise InputError(
            f"{where}: {len(empty)} empty label(s) at {_rows(empty)}; fill them or remove those rows"
        )
    return out


def _label_text(value: Any) -> str:
    label = str(value).strip()
    if label.endswith(".0") and _is_number(label):
        label = label[:-2]  # pandas reads integer labels with gaps as floats
    return label


def _check_label_names(names: tuple[str, ...], path: Path) -> None:
    # Labels become output names in clf.json and lines of clf-run's output: no control characters.
    for name in names:
        if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
            raise InputError(
                f"{path}: label {name!r} holds a control character or line break; "
                "clean the label column (or pick --label-separator so it splits there)"
            )


def label_order(names: set[str]) -> tuple[str, ...]:
    """Sorted as integers when every label is one, else as strings."""
    if names and all(n.lstrip("-").isdigit() for n in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def load_split(
    path: Path,
    text_column: str,
    label_column: str,
    pair_column: str | None,
    task: str | None,
    separator: str,
    notes: list[str] | None = None,
) -> tuple[Split, str]:
    """One file's rows; with task None the task is guessed, and a note about the guess (if any) is
    appended to `notes`."""
    used = tuple(c for c in (text_column, pair_column, label_column) if c)
    frame = read_table(path, used)
    texts = _texts(_column(frame, text_column, path, "--text-column"), path, text_column)
    pairs = None
    if pair_column:
        pairs = _texts(_column(frame, pair_column, path, "--text-pair-column"), path, pair_column)
    raw = check_labels(_column(frame, label_column, path, "--label-column"), path, label_column)
    if task is None:
        task, note = guess_task(raw, separator, f"{path}, column {label_column!r}")
        if note is not None and notes is not None:
            notes.append(f"{path}, column {label_column!r}: {note}")
    return Split(texts, pairs, _parse_labels(raw, task, separator, path, label_column)), task


def stratified_split(split: Split, task: str, fraction: float, seed: int) -> tuple[Split, Split]:
    import numpy as np

    if not 0 < fraction < 1:
        raise InputError(f"--validation-split must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    n = len(split)
    if task == "single_label":
        groups: dict[str, list[int]] = {}
        for i, label in enumerate(split.labels):
            groups.setdefault(label, []).append(i)
        val_idx = []
        for label in sorted(groups):
            idx = rng.permutation(groups[label])
            take = round(len(idx) * fraction)
            if len(idx) >= 2:  # keep at least one example of each class for training
                val_idx.extend(idx[: max(1, min(take, len(idx) - 1))].tolist())
    else:
        val_idx = rng.permutation(n)[: max(1, round(n * fraction))].tolist()
    chosen = set(val_idx)
    train_idx = [i for i in range(n) if i not in chosen]
    return _subset(split, train_idx), _subset(split, sorted(chosen))


def _subset(split: Split, idx: list[int]) -> Split:
    return Split(
        [split.texts[i] for i in idx],
        None if split.pairs is None else [split.pairs[i] for i in idx],
        [split.labels[i] for i in idx],
    )


def load_task_data(
    data: Path,
    validation: Path | None,
    text_column: str,
    label_column: str,
    pair_column: str | None,
    task: str,
    separator: str,
    validation_split: float,
    seed: int,
    test: Path | None = None,
) -> TaskData:
    forced = None if task == "auto" else task.replace("-", "_")
    notes: list[str] = []
    train_split, task_name = load_split(
        data, text_column, label_column, pair_column, forced, separator, notes
    )
    if validation is not None:
        val_split, _ = load_split(validation, text_column, label_column, pair_column, task_name, separator)
    else:
        train_split, val_split = stratified_split(train_split, task_name, validation_split, seed)
    test_split = None
    if test is not None:
        test_split, _ = load_split(test, text_column, label_column, pair_column, task_name, separator)

    if task_name == "regression":
        names: tuple[str, ...] = (label_column,)
    else:
        seen = {x for v in train_split.labels for x in (v if isinstance(v, list) else [v])}
        names = label_order(seen)
        _check_label_names(names, data)
        if len(names) < 2:
            raise InputError(
                f"{data}: only {len(names)} class ({', '.join(names)}); a classifier needs at least 2"
            )
        for split_name, split, path in (("validation", val_split, validation), ("test", test_split, test)):
            if split is None:
                continue
            unseen = sorted({x for v in split.labels for x in (v if isinstance(v, list) else [v])} - seen)
            if unseen:
                raise InputError(
                    f"{path or data}: {split_name} label(s) {', '.join(map(repr, unseen[:5]))} never occur "
                    "in the training data; add training examples or remove those rows"
                )
    if len(train_split) == 0 or len(val_split) == 0:
        raise InputError(f"{data}: too few rows to train and validate ({len(train_split) + len(val_split)})")
    for note in notes:
        log.warning("note: %s", note)
    return TaskData(task_name, names, train_split, val_split, test_split, tuple(notes))


def save_jsonl(split: Split, path: Path) -> None:
    """The validation split in the handoff's format (clf_train.handoff), which clf-export reads."""
    write_jsonl(path, labelled_rows(split.texts, split.pairs, split.labels))
