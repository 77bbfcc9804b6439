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
