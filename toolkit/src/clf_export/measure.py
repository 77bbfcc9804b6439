"""What the manifest records about the export: file sizes, batch-1 latency, and the gate's checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clf_runtime import TextClassifier
from clf_runtime.artifact import Variant
from clf_runtime.timing import median_ms

#: Warm-up calls before timing (the first calls allocate ONNX Runtime's buffers).
WARMUP = 5


def latency_ms(clf: TextClassifier, text: Any, runs: int) -> float:
    """Batch-1 p50 milliseconds of clf.logits on one text."""
    return median_ms(lambda _: clf.logits([text]), runs, warmup=WARMUP)


def sizes(folder: Path, variants: list[Variant]) -> dict[str, int]:
    return {v.precision: (folder / v.file).stat().st_size for v in variants}
