"""Latency and throughput of a loaded TextClassifier: the library behind `clf-bench`.

Texts of a given token length are cut from a neutral paragraph with the model's own tokenizer,
so "64 tokens" means 64 model tokens including [CLS] and [SEP].
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

from clf_runtime.classifier import TextClassifier, TextInput
from clf_runtime.cpu import this_cpu
from clf_runtime.timing import summarize, time_calls

PARAGRAPH = (
    "I ordered a pair of running shoes from your online shop three weeks ago and paid with my "
    "credit card, but the parcel has still not arrived even though the tracking page said it would "
    "be delivered last Tuesday. I contacted the courier twice and they told me to ask you instead. "
    "Could you please check what happened to my order, tell me when it will arrive, and if it was "
    "lost, either send a replacement in the same size or refund the full amount including the "
    "shipping fee? I have been a loyal customer for years and this is the first time something "
    "like this has happened, so I hope we can sort it out quickly. "
)
SHORT_TEXTS = [
    "Where is my parcel?",
    "I want a refund",
    "The app keeps crashing on login",
    "Thanks, great service!",
    "How do I change my card PIN?",
    "My payment was declined twice today",
    "Can I cancel my order?",
    "Love the new update",
]


def text_of_tokens(clf: TextClassifier, n_tokens: int) -> str:
    """A prefix of PARAGRAPH (repeated as needed) that tokenizes to exactly n_tokens with specials."""
    tok = clf.tokenizer
    text = PARAGRAPH * (1 + n_tokens // 60)
    tok.no_truncation()
    try:
        enc = tok.encode(text)
    finally:
        tok.enable_truncation(max_length=clf.manifest.max_length)
    words = [i for i, s in enumerate(enc.special_tokens_mask) if not s]
    keep = max(1, min(n_tokens - (len(enc.ids) - len(words)), len(words)))
    end = enc.offsets[words[keep - 1]][1]
    return text[:end]


@dataclass(frozen=True)
class Latency:
    name: str
    tokens: int
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


def latency(clf: TextClassifier, inputs: list[TextInput], name: str, runs: int, warmup: int = 10) -> Latency:
    """Batch-1 latency of predict() over `runs` calls cycling through `inputs`."""
    times = time_calls(lambda i: clf.predict([inputs[i % len(inputs)]]), runs, warmup)
    tokens = round(statistics.mean(len(clf.tokenizer.encode(*_pair(x)).ids) for x in inputs))
    t = summarize(times)
    return Latency(name, tokens, runs, t.p50_ms, t.p95_ms, t.p99_ms, t.mean_ms)


def _pair(x: TextInput) -> tuple[str, ...]:
    return (x,) if isinstance(x, str) else x


def throughput(clf: TextClassifier, inputs: list[TextInput], batch_size: int) -> float:
    """Texts per second for predict() over all inputs at once (length-sorted batches)."""
    clf.predict(inputs[: batch_size * 2], batch_size=batch_size)
    start = time.perf_counter()
    clf.predict(inputs, batch_size=batch_size)
    return len(inputs) / (time.perf_counter() - start)


def run_suite(
    clf: TextClassifier, lengths: tuple[int, ...], runs: int, n_throughput: int, batch_size: int
) -> dict:
    pair = clf.text_pair
    rows = []
    short = [(t, t) for t in SHORT_TEXTS] if pair else list(SHORT_TEXTS)
    rows.append(latency(clf, short, "short texts", runs))
    for n in lengths:
        if n > clf.manifest.max_length:
            continue
        text = text_of_tokens(clf, n // 2 if pair else n)
        rows.append(latency(clf, [(text, text) if pair else text], f"{n} tokens", runs))
    corpus = [short[i % len(short)] for i in range(n_throughput)]
    int8 = clf.manifest.quantization.get("int8", {}) if clf.precision == "int8" else {}
    return {
        "provider": clf.provider,
        "precision": clf.precision,
        "cpu": this_cpu().describe(),
        "int8_target": int8.get("target"),
        "cpu_warning": clf.cpu_warning,
        "latency": [asdict(r) for r in rows],
        "throughput_texts_per_s": throughput(clf, corpus, batch_size),
        "throughput_batch_size": batch_size,
    }
