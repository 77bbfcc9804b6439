"""ServeConfig: every setting of clf-serve, with the defaults the CLI shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ServeConfig:
    model: Path
    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port; the chosen one is printed at start
    # Authorization: Bearer KEY needed on every route but the health checks; never in a repr or a log.
    api_key: str | None = field(default=None, repr=False)
    ssl_certfile: Path | None = None  # both set: uvicorn serves HTTPS itself
    ssl_keyfile: Path | None = None
    max_batch: int = 32  # inputs per model call, gathered across concurrent requests
    max_wait_ms: float = 2.0  # how long the first input of a batch waits for batch-mates
    max_inputs: int = 256  # inputs per request
    max_body_bytes: int = 2_000_000  # request body limit, as text-embeddings-inference's default
    max_concurrent: int = 512  # /predict requests at once; more get 429 (TEI's default too)
    threads: int | None = None  # ONNX Runtime intra-op threads (None: one per physical core)
    min_score: float = 0.0  # leave out labels whose probability is below this (the top one stays)
    provider: str = "auto"
    precision: str | None = None  # override the variant the manifest picks for the provider
    graceful_timeout_s: float = 30.0  # on SIGTERM, how long in-flight requests may still take
    # Slow and stalled clients (README, "Slow clients"): a request's headers must arrive within
    # header_timeout_s of its first byte (or of the connection's start), its body within
    # body_timeout_s of its headers. 60 s lets a full 2 MB body through at 33 KB/s (a 0.27 Mbit/s
    # link); benchmarks/serve_bench.py --slow-clients measures honest slow clients against them.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_header_bytes: int = 32 * 1024  # request line and headers; h11's default is 16 KiB, nginx's 8-32
    max_headers: int = 100  # header lines per request, as Python's http.client
