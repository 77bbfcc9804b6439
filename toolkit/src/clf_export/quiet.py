"""Which warnings and logs clf-export lets through: the libraries' noise silenced, clf's own kept.

Optimum, transformers, torch.onnx and onnxruntime print pages of tracer warnings, deprecation
notices and info logs while exporting and quantizing; none of it is actionable for users. Warnings
are selected by category and by the module that raises them, logs by logger name (or, for
onnxruntime's quantizer, which logs on the root logger, by the package the record comes from),
never by message text. What clf-export itself wants users to read is an `ExportWarning`, which the
CLI prints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from clf_export.errors import ExportWarning

#: Loggers whose info and warnings are not for clf-export's users (errors still show).
NOISY_LOGGERS = ("optimum", "transformers", "onnxruntime", "torch.onnx")
#: Modules whose warnings are silenced while Optimum traces and exports the model.
EXPORTER_MODULES = r"(torch|transformers|optimum|onnx|onnxscript)(\.|$)"

__all__ = ["ExportWarning", "exporter", "quantizer", "quiet_libraries"]


def _tracer_warning() -> type[Warning] | None:
    try:
        from torch.jit import TracerWarning
    except ImportError:  # pragma: no cover - torch is a dependency of clf-export
        return None
    return TracerWarning


def quiet_libraries() -> None:
    """Process-wide, for the CLI: the libraries' loggers at ERROR, their warnings ignored."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|optimum).*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    tracer = _tracer_warning()
    if tracer is not None:
        warnings.filterwarnings("ignore", category=tracer)


@contextlib.contextmanager
def exporter() -> Iterator[None]:
    """While Optimum exports: every warning the tracing libraries raise, and tracer/deprecation
    warnings wherever they point (some name the caller's frame)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=EXPORTER_MODULES)
        for category in (DeprecationWarning, FutureWarning, _tracer_warning()):
            if category is not None:
                warnings.filterwarnings("ignore", category=category)
        yield


class _BelowErrorFrom(logging.Filter):
    """Drops records under ERROR logged from modules inside the given package folders."""

    def __init__(self, folders: list[str]) -> None:
        super().__init__()
        self.folders = tuple(str(Path(f).resolve()) + os.sep for f in folders)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        return not str(Path(record.pathname).resolve()).startswith(self.folders)


@contextlib.contextmanager
def quantizer() -> Iterator[None]:
    """While onnxruntime quantizes: its quantization package logs a pre-processing hint on the root
    logger at every call (shape inference is already done by the exporter and the optimizer)."""
    import onnxruntime.quantization as package

    hint = _BelowErrorFrom(list(package.__path__))
    root = logging.getLogger()
    root.addFilter(hint)
    try:
        yield
    finally:
        root.removeFilter(hint)
