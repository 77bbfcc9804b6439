"""The engine table of clf-batch: every engine behind one interface, a new engine is one module."""

from __future__ import annotations

import json
from importlib.metadata import metadata
from pathlib import Path

import pytest

from clf_runtime.batch import ENGINES, BatchConfig, Engine, run
from clf_runtime.batch.engine import ENGINE_OPTIONS
from clf_runtime.errors import InputError

from .conftest import fixture_path


def test_every_engine_names_an_extra_and_known_options() -> None:
    extras = set(metadata("clf-runtime").get_all("Provides-Extra") or [])
    assert next(iter(ENGINES)) == "local" == BatchConfig(inputs=(), output=Path(), model=Path()).engine
    for name, engine in ENGINES.items():
        assert engine.name == name
        assert engine.extra in extras, name
        assert set(engine.options) <= set(ENGINE_OPTIONS), name


def test_options_are_checked_against_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An engine that takes --workers but not --address: the checks and messages follow the table."""
    monkeypatch.setitem(ENGINES, "echo", Engine("echo", "batch", lambda *_: 0, {"workers": "echo workers"}))
    config = BatchConfig(inputs=("x.csv",), output=tmp_path / "out", model=fixture_path("tiny-bert"))
    with pytest.raises(
        InputError, match=r"--address applies to --engine ray or spark; leave it out for echo"
    ):
        run(BatchConfig(**{**config.__dict__, "engine": "echo", "address": "h:1"}))
    with pytest.raises(
        InputError, match=r"--workers applies to --engine ray or spark or echo; use --threads for local"
    ):
        run(BatchConfig(**{**config.__dict__, "workers": 2}))


def test_a_new_engine_runs_behind_the_interface(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An engine is a run function: it gets the inputs found once and the temporary output folder."""
    pa = pytest.importorskip("pyarrow")
    from clf_runtime.batch.engine import PartWriter
    from clf_runtime.batch.inputs import read_batches

    from .batch_helpers import table, write

    def copy(config, files, out, progress):  # type: ignore[no-untyped-def]
        writer = PartWriter(out, config.rows_per_part)
        for f in files:
            for batch in read_batches(f, 16):
                writer.write(pa.Table.from_batches([batch]))
        writer.close()
        return writer.rows

    monkeypatch.setitem(ENGINES, "copy", Engine("copy", "batch", copy))
    src = write(table(n=5), tmp_path / "in.parquet")
    out = tmp_path / "out"
    summary = run(BatchConfig(inputs=(str(src),), output=out, model=fixture_path("tiny-bert"), engine="copy"))
    assert summary["rows"] == 5
    assert json.loads((out / "_clf_batch.json").read_text())["config"]["engine"] == "copy"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "_SUCCESS",
        "_clf_batch.json",
        "part-00000.parquet",
    ]
