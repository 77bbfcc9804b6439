"""The engines of clf-batch as a table: every module of this package defines one `ENGINE`.

To add an engine, add a module here that defines `ENGINE = Engine(name=..., extra=..., run=...)`
(`clf_runtime.batch.engine`) and a test; `--engine`, the checks of `--address` / `--workers` and
clf-batch's help texts come from this table. The module must import its framework inside `run`.
"""

from __future__ import annotations

import importlib
import pkgutil

from clf_runtime.batch.engine import Engine


def _table() -> dict[str, Engine]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        engine = importlib.import_module(f"{__name__}.{module.name}").ENGINE
        assert isinstance(engine, Engine) and engine.name == module.name, module.name
        found.append(engine)
    # local first (the default), then the others by name
    return {e.name: e for e in sorted(found, key=lambda e: (e.name != "local", e.name))}


ENGINES: dict[str, Engine] = _table()
