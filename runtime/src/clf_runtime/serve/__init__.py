"""clf-serve: a TEI-compatible HTTP service with dynamic batching (the optional `serve` extra).

Importing this package loads nothing beyond the runtime: Starlette, uvicorn and prometheus-client are
imported by `clf_runtime.serve.app`, `.server` and `.metrics`, which only `serve()` loads, after
`require_extra()` has checked that they are installed.
"""

from __future__ import annotations

import importlib.util

from clf_runtime.errors import ClfError
from clf_runtime.serve.config import ServeConfig

#: The packages the `serve` extra brings, by import name.
# httptools: clf-serve's limits on headers live in a subclass of uvicorn's httptools protocol.
EXTRA_MODULES = ("starlette", "uvicorn", "httptools", "prometheus_client")
INSTALL_HINT = "pip install 'clf-runtime[serve]'"


class ExtraMissingError(ClfError):
    """An optional part of clf-runtime is used without its extra installed."""


def require_extra() -> None:
    """Raise ExtraMissingError naming the missing packages and the pip command that adds them."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken one
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise ExtraMissingError(
            f"clf-serve needs the serve extra ({', '.join(missing)} not installed): {INSTALL_HINT}"
        )


def serve(config: ServeConfig) -> None:
    """Load the model, listen on config.host:config.port, answer until SIGTERM or Ctrl-C."""
    from clf_runtime.serve.auth import check_settings

    check_settings(config)
    require_extra()
    from clf_runtime.serve.server import run

    run(config)


__all__ = ["EXTRA_MODULES", "INSTALL_HINT", "ExtraMissingError", "ServeConfig", "require_extra", "serve"]
