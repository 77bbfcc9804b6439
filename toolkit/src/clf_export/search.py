"""The int8 fallback search: when the first int8 candidate fails the gate, look for one that passes.

Candidates, in order, each tried only while the time budget lasts (as NNCF's accuracy-aware
quantization reverts layers to float until the metric is back):

1. the int8 model as configured (per-channel or per-tensor weights, as asked);
2. the other of per-channel / per-tensor;
3. the classifier head and pooler kept in fp32;
4. the embeddings kept in fp32 as well;
5. whole encoder layers kept in fp32, most sensitive first. A layer's sensitivity is measured on
   the validation sample: keep that layer alone in fp32 and see how close the logits get to the
   fp32 model's (mean |Δlogit|). Each of those probes is a candidate too.

The first candidate that passes the gate wins. The caller builds and checks a candidate
(`Evaluate`); this module only decides what to try next.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HEAD = re.compile(r"classifier|pooler|pre_classifier|out_proj|score", re.IGNORECASE)
EMBEDDINGS = re.compile(r"embed|Gather", re.IGNORECASE)
# Encoder layer of a node: from the exporter's names, or the fusion's Attention_<n> (numbered in
# graph order, which is layer order).
LAYER = re.compile(r"layers?[./_](\d+)[./_]|^Attention_(\d+)$")


@dataclass(frozen=True)
class Candidate:
    per_channel: bool
    fp32_nodes: tuple[str, ...] = ()
    label: str = ""


@dataclass
class Trial:
    """What a candidate did: the gate's verdict (None = passes) and how far it is from fp32."""

    candidate: Candidate
    problem: str | None
    error: float  # mean |Δlogit| against the fp32 ONNX model on the validation texts
    size: int
    latency_ms: float
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        verdict = "passes" if self.problem is None else self.problem.split(" (")[0]
        return f"{self.candidate.label}: {verdict}, mean |Δlogit| {self.error:.3g}"


Evaluate = Callable[[Candidate], Trial]


def groups(nodes: list[str]) -> tuple[list[str], list[str], dict[int, list[str]]]:
    """Split quantizable node names into head, embeddings and encoder layers."""
    head = [n for n in nodes if HEAD.search(n)]
    embeddings = [n for n in nodes if EMBEDDINGS.search(n) and n not in head]
    layers: dict[int, list[str]] = {}
    for n in nodes:
        match = LAYER.search(n)
        if match and n not in head and n not in embeddings:
            layers.setdefault(int(match.group(1) or match.group(2)), []).append(n)
    return head, embeddings, layers


def search(nodes: list[str], evaluate: Evaluate, per_channel: bool, budget_s: float) -> list[Trial]:
    """Try candidates until one passes or the budget is spent; returns every trial, last = result."""
    start = time.monotonic()
    trials: list[Trial] = []

    def attempt(candidate: Candidate) -> bool:
        trials.append(evaluate(candidate))
        return trials[-1].problem is None

    def out_of_time() -> bool:
        return time.monotonic() - start > budget_s

    name = "per-channel" if per_channel else "per-tensor"
    if attempt(Candidate(per_channel, (), f"int8 {name}")) or out_of_time():
        return trials
    other = "per-tensor" if per_channel else "per-channel"
    if attempt(Candidate(not per_channel, (), f"int8 {other}")) or out_of_time():
        return trials
    best = min(trials, key=lambda t: t.error).candidate.per_channel
    weights = "per-channel" if best else "per-tensor"
    head, embeddings, layers = groups(nodes)
    kept: list[str] = []
    kept_groups: list[str] = []
    for what, extra in (("head", head), ("embeddings", embeddings)):
        if not extra:
            continue
        kept += extra
        kept_groups.append(what)
        label = f"int8 {weights}, fp32 {'+'.join(kept_groups)}"
        if attempt(Candidate(best, tuple(kept), label)) or out_of_time():
            return trials
    prefix = f"int8 {weights}, fp32 " + "".join(f"{g}+" for g in kept_groups)
    # Sensitivity: each layer alone back in fp32 (on top of the groups above).
    probes: dict[int, float] = {}
    for layer, layer_nodes in sorted(layers.items()):
        if attempt(Candidate(best, tuple(kept + layer_nodes), f"{prefix}layer {layer}")) or out_of_time():
            return trials
        probes[layer] = trials[-1].error
    ranked = sorted(probes, key=lambda layer: probes[layer])  # lowest error = most sensitive
    for count in range(2, len(ranked)):  # all layers in fp32 would be no int8 model at all
        chosen = ranked[:count]
        fp32 = kept + [n for layer in chosen for n in layers[layer]]
        label = f"{prefix}layers {','.join(map(str, sorted(chosen)))}"
        if attempt(Candidate(best, tuple(fp32), label)) or out_of_time():
            return trials
    return trials
