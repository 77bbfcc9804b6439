"""Timing calls: the one latency loop behind clf-bench, clf-export's latency record and benchmarks/.

`time_calls` runs a call a number of times after a warm-up and returns each run's milliseconds;
`summarize` turns them into p50/p95/p99/mean. Percentiles interpolate linearly between the two
nearest runs (numpy's default), so p50 is the median.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def time_calls(call: Callable[[int], object], runs: int, warmup: int = 0) -> list[float]:
    """Milliseconds of `call(i)` for i in range(runs), after untimed `call(i)` for i in range(warmup).

    The index lets a caller cycle through its inputs (`lambda i: f(items[i % len(items)])`).
    """
    for i in range(warmup):
        call(i)
    times = []
    for i in range(runs):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, interpolated; NaN when there are none."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    n: int


def summarize(times_ms: list[float]) -> Timing:
    """Percentiles and mean of a list of milliseconds (from `time_calls`)."""
    mean = float(np.mean(times_ms)) if len(times_ms) else float("nan")
    return Timing(
        percentile(times_ms, 50), percentile(times_ms, 95), percentile(times_ms, 99), mean, len(times_ms)
    )


def median_ms(call: Callable[[int], object], runs: int, warmup: int = 0) -> float:
    """The median milliseconds of `runs` calls after `warmup` (a one-number latency)."""
    return summarize(time_calls(call, runs, warmup)).p50_ms
