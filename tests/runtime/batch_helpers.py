"""Shared by the clf-batch tests: input tables, the reference predictions, reading an output folder."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from clf_runtime import TextClassifier

from .conftest import expected, fixture_path


def texts(name: str = "tiny-bert", n: int = 40) -> list:
    """The fixture's inputs (unicode, empty, long) plus generated ones, `n` in all."""
    base, _ = expected(name)
    more = [f"order {i} arrived {'late' if i % 3 else 'broken'}, refund please" for i in range(n)]
    if isinstance(base[0], tuple):
        more = [(t, f"a note about order {i}") for i, t in enumerate(more)]
    return (list(base) + more)[:n]


def table(name: str = "tiny-bert", n: int = 40, null_at: int | None = None) -> pa.Table:
    """id (int), text (str; a null at `null_at`), [pair], amount (float): other columns to keep."""
    items = texts(name, n)
    cols: dict[str, list] = {"id": list(range(n))}
    if isinstance(items[0], tuple):
        cols["text"] = [a for a, _ in items]
        cols["other"] = [b for _, b in items]
    else:
        cols["text"] = list(items)
    if null_at is not None:
        cols["text"][null_at] = None
    cols["amount"] = [i * 0.5 for i in range(n)]
    return pa.table(cols)


def write(tab: pa.Table, path: Path) -> Path:
    """`tab` as Parquet, CSV or JSONL, by `path`'s suffix."""
    if path.suffix == ".parquet":
        pq.write_table(tab, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(tab, path)
    else:
        with open(path, "w", encoding="utf-8") as f:
            for row in tab.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_output(folder: Path) -> pa.Table:
    assert (folder / "_SUCCESS").is_file()
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts, f"no parts in {folder}"
    return pa.concat_tables([pq.read_table(p) for p in parts]).sort_by("id")


def blank(text: str | None) -> bool:
    """clf-batch gives null predictions for a null, empty or whitespace-only text."""
    return text is None or not text.strip()


def reference(name: str, tab: pa.Table) -> dict[int, object]:
    """id -> TextClassifier.predict's prediction (fp32: its scores do not depend on batch-mates)."""
    clf = TextClassifier.load(fixture_path(name), provider="cpu", precision="fp32")
    rows = [r for r in tab.to_pylist() if not blank(r["text"]) and not blank(r.get("other", "x"))]
    items = [(r["text"], r["other"]) if "other" in r else r["text"] for r in rows]
    return {r["id"]: p for r, p in zip(rows, clf.predict(items))}


def assert_matches(name: str, out: pa.Table, given: pa.Table, prefix: str = "") -> None:
    """Every input column kept as it was; each row's prediction equals TextClassifier.predict's."""
    assert out.num_rows == given.num_rows
    for column in given.column_names:
        got, want = out.column(column).to_pylist(), given.sort_by("id").column(column).to_pylist()
        assert got == want, [(g, w) for g, w in zip(got, want) if g != w][:3]
    expect = reference(name, given)
    for row in out.to_pylist():
        p = expect.get(row["id"])
        first = next(k for k in ("label", "labels", "value") if prefix + k in row)
        if p is None:  # null or empty text: null predictions
            assert row[prefix + first] is None
            assert row.get(prefix + "score") is None
        elif p.value is not None:
            assert abs(row[prefix + "value"] - p.value) < 1e-5
        else:
            assert row[prefix + first] == (list(p.labels) if p.labels is not None else p.label)
            assert abs(row[prefix + "score"] - p.score) < 1e-5
