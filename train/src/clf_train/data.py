"""Reading labelled data: files -> texts, labels and the task, with errors a user can act on.

Label order (the model's output columns) is stable and documented: labels sorted as numbers when
they all are integers, else as strings. The same data therefore always gives the same ids.
Task detection (overridable): float labels -> regression; lists (JSONL) or labels containing the
separator -> multi-label; anything else -> single-label.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clf_runtime.errors import InputError
from clf_runtime.handoff import labelled_rows, write_jsonl
from clf_runtime.oserrors import os_error_message

READERS = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")


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

    @property
    def text_pair(self) -> bool:
        return self.train.pairs is not None


def read_table(path: Path):  # -> pandas.DataFrame
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"data file {path} does not exist")
    if path.is_dir():
        raise InputError(f"{path} is a folder; pass a CSV, TSV, JSONL or Parquet file")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(READERS)}")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"data file {path} is empty")
        # pandas splits lines at \n and \r only (not at U+2028, U+0085 or form feeds inside texts).
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
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


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
        return True
    except ValueError:
        return False


def detect_task(labels: list[Any], separator: str) -> str:
    if any(isinstance(v, list) for v in labels):
        return "multi_label"
    if all(_is_number(v) for v in labels) and any(float(str(v)) != int(float(str(v))) for v in labels):
        return "regression"
    if any(separator in str(v) for v in labels):
        return "multi_label"
    return "single_label"


def _parse_labels(values: list[Any], task: str, separator: str, path: Path) -> list[Any]:
    if task == "regression":
        out = []
        for i, v in enumerate(values):
            if not _is_number(v) or str(v).strip() == "":
                raise InputError(
                    f"{path}, data row {i + 1}: regression label {v!r} is not a number; "
                    "fix it or choose --task single-label"
                )
            if not math.isfinite(float(str(v))):
                raise InputError(f"{path}, data row {i + 1}: regression label {v!r} is not finite; fix it")
            out.append(float(str(v)))
        return out
    if task == "multi_label":
        out = []
        for v in values:
            items = v if isinstance(v, list) else str(v).split(separator)
            out.append(sorted({str(x).strip() for x in items if str(x).strip()}))
        return out
    out = []
    for i, v in enumerate(values):
        label = "" if v is None else str(v).strip()
        if label.endswith(".0") and _is_number(label):
            label = label[:-2]  # pandas reads integer labels with gaps as floats
        if not label:
            raise InputError(f"{path}, data row {i + 1}: empty label")
        out.append(label)
    return out


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
) -> tuple[Split, str]:
    frame = read_table(path)
    texts = _texts(_column(frame, text_column, path, "--text-column"), path, text_column)
    pairs = None
    if pair_column:
        pairs = _texts(_column(frame, pair_column, path, "--text-pair-column"), path, pair_column)
    raw = _column(frame, label_column, path, "--label-column")
    task = task or detect_task(raw, separator)
    return Split(texts, pairs, _parse_labels(raw, task, separator, path)), task


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
    train_split, task_name = load_split(data, text_column, label_column, pair_column, forced, separator)
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
    return TaskData(task_name, names, train_split, val_split, test_split)


def save_jsonl(split: Split, path: Path) -> None:
    """The validation split in the handoff's format (clf_runtime.handoff), which clf-export reads."""
    write_jsonl(path, labelled_rows(split.texts, split.pairs, split.labels))
