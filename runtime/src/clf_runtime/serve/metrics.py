"""Prometheus metrics of one clf-serve app, in a registry of its own (two apps never share counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """What /metrics exposes: requests, inputs, model batches, latency, errors, work in flight."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "clf_requests", "HTTP requests answered, by route and status", ["route", "status"], registry=r
        )
        self.errors = Counter(
            "clf_errors", "Requests refused or failed, by error_type", ["error_type"], registry=r
        )
        self.inputs = Counter("clf_inputs", "Texts (or pairs) classified", registry=r)
        self.batch_size = Histogram(
            "clf_batch_size",
            "Inputs per model call, gathered across requests",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "clf_batch_duration_seconds", "Time of one model call", buckets=LATENCY_BUCKETS, registry=r
        )
        self.latency = Histogram(
            "clf_request_duration_seconds",
            "Time from request to answer of /predict",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("clf_requests_in_flight", "/predict requests being answered", registry=r)
        self.queued = Gauge("clf_queued_inputs", "Inputs waiting for a model call", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
