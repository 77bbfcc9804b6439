"""The int8 variant with its fallback: quantize, load, gate; on failure, the candidates search.py picks.

Each candidate is quantized into the artifact folder's int8 file, loaded with the runtime through a
probe manifest (clf_export.manifest), gated against fp32 and timed. The first that passes is kept;
when none does, export stops with a GateError naming what was tried (or, with --force, keeps the
first candidate).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clf_export import gate, quantize, search
from clf_export.config import QUANTIZE_INT8_MODE, ExportConfig
from clf_export.errors import ExportError
from clf_export.manifest import VARIANT_FILES, load_probe
from clf_export.measure import latency_ms
from clf_runtime import TextClassifier
from clf_runtime.artifact import Manifest

log = logging.getLogger("clf_export")


@dataclass(frozen=True)
class Int8Build:
    """Where the search reads and writes: the graph to quantize, the artifact folder, a scratch folder."""

    graph: Path
    folder: Path
    scratch: Path
    base: Manifest  # the manifest template, for probe manifests
    int8_texts: tuple[Any, ...] = ()  # texts to fix static int8 scales on


class _Candidates:
    """Builds and judges one candidate at a time (search.Evaluate)."""

    def __init__(self, config: ExportConfig, build: Int8Build, yardstick: gate.Yardstick) -> None:
        self.config, self.build, self.yardstick = config, build, yardstick
        self.mode = QUANTIZE_INT8_MODE[config.quantize]
        fp32 = load_probe(build.base, build.folder, build.scratch, "fp32")
        self.fp32_logits = fp32.logits(yardstick.data.texts)
        self.fp32 = yardstick.check("fp32", self.fp32_logits)
        texts = yardstick.data.texts
        self.text = texts[0] if texts else "hello"
        self.feeds = int8_feeds(fp32, build.int8_texts) if self.mode == "static" else []

    def fp32_problems(self) -> list[str]:
        n = len(self.yardstick.data.texts)
        return gate.judge({"fp32": self.fp32}, self.config.fp32_tolerance, self.config.max_accuracy_drop, n)

    def evaluate(self, candidate: search.Candidate) -> search.Trial:
        config, dest = self.config, self.build.folder / VARIANT_FILES["int8"]
        info = quantize.quantize_int8(
            self.build.graph,
            dest,
            config.target,
            candidate.per_channel,
            self.mode,
            candidate.fp32_nodes,
            self.feeds,
        )
        clf = load_probe(self.build.base, self.build.folder, self.build.scratch, "int8")
        logits = clf.logits(self.yardstick.data.texts)
        check = self.yardstick.check("int8", logits)
        n = len(logits)
        problem = gate.quantized_problem(self.fp32, check, config.max_accuracy_drop, n)
        error = float(np.abs(logits - self.fp32_logits).mean()) if n else 0.0
        latency = latency_ms(clf, self.text, max(config.latency_runs, 1))
        log.info("int8 candidate %s: %s", candidate.label, problem or "passes")
        details = {"info": info, "check": check}
        return search.Trial(candidate, problem, error, dest.stat().st_size, latency, details)


#: int8 calibration texts per padded batch, sorted by length first so batches pad little (padded
#: positions are left out anyway). The fixed ranges are the mean of these batches' extremes
#: (clf_export.static_scales), i.e. what dynamic int8 would see on a batch of 16 such texts.
INT8_TEXTS_PER_BATCH = 16


def int8_feeds(clf: TextClassifier, texts: Sequence[Any]) -> list[dict[str, np.ndarray]]:
    """Model-input batches to fix static int8 scales on, tokenized as the runtime does."""
    if not texts:
        raise ExportError("static int8 needs texts to calibrate on: pass --calibration or --validation")
    ordered = sorted(texts, key=lambda t: len(t) if isinstance(t, str) else len(t[0]) + len(t[1]))
    step = INT8_TEXTS_PER_BATCH
    return [clf.model_inputs(ordered[i : i + step]) for i in range(0, len(ordered), step)]


def build_int8(
    config: ExportConfig, build: Int8Build, yardstick: gate.Yardstick
) -> tuple[dict[str, Any], dict[str, gate.VariantCheck]]:
    """Quantize to int8, and when that fails the gate, search for a mixed-precision model that passes.

    Leaves the chosen model at the folder's int8 file; returns its quantization info and the gate's
    checks of fp32 and int8. Raises GateError, naming what it tried, when nothing passes (unless
    --force, which keeps the first candidate).
    """
    candidates = _Candidates(config, build, yardstick)
    problems = candidates.fp32_problems()
    if problems and not config.force:  # no int8 search on top of a broken fp32 graph
        raise gate.refusal(problems)
    start = time.monotonic()
    nodes = quantize.weight_nodes(build.graph)
    trials = search.search(nodes, candidates.evaluate, config.per_channel, config.search_budget_s)
    chosen = trials[-1]
    if chosen.problem is not None:
        if not config.force:
            raise _nothing_passes(trials, time.monotonic() - start)
        chosen = candidates.evaluate(trials[0].candidate)
    return _record(chosen, trials), {"fp32": candidates.fp32, "int8": chosen.details["check"]}


def _nothing_passes(trials: list[search.Trial], seconds: float) -> Exception:
    tried = f"tried {len(trials)} int8 candidate(s) in {seconds:.0f} s: " + "; ".join(
        t.describe() for t in trials
    )
    return gate.refusal(
        f"{trials[0].problem}; {tried}; "
        "try a larger --max-accuracy-drop or --search-budget, or --quantize none to ship fp32 "
        "(--force writes the first candidate anyway)"
    )


def _record(chosen: search.Trial, trials: list[search.Trial]) -> dict[str, Any]:
    """The chosen candidate's quantization info, with the search's story when there was one."""
    info = dict(chosen.details["info"])
    if len(trials) > 1:
        first = trials[0]
        info["search"] = [t.describe() for t in trials]
        info["cost_vs_all_int8"] = {
            "bytes": chosen.size - first.size,
            "latency_ms_p50_batch1": round(chosen.latency_ms - first.latency_ms, 4),
        }
    return info
