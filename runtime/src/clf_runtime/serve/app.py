"""The Starlette app of clf-serve: the routes of api.py's table (TEI's, and GET /openapi.json).

Every refusal is a 4xx JSON answer `{"error": ..., "error_type": ...}`: the body is read in chunks and
refused as soon as it passes `max_body_bytes` (a Content-Length over the limit is refused before any
byte is read), then decoded, parsed and checked against the model (schema.py) before it reaches the
batcher. Only a failure of the model itself is a 500. With an API key, KeyCheck (auth.py) refuses
the requests without it before they reach a route.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clf_runtime.classifier import TextClassifier, TextInput
from clf_runtime.prediction import to_predictions
from clf_runtime.serve.api import ENDPOINTS, PATHS, ROUTES, openapi
from clf_runtime.serve.auth import KeyCheck
from clf_runtime.serve.batching import Batcher
from clf_runtime.serve.config import ServeConfig
from clf_runtime.serve.metrics import Metrics
from clf_runtime.serve.schema import PredictRequest, RequestError, answer, decode_json, parse_predict
from clf_runtime.serve.tokens import Tokens, parse_decode, parse_tokenize

log = logging.getLogger("clf_runtime.serve")
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


#: Refusals sent before the whole body was read: the connection is closed after the answer, so the
#: rest of the body is not read for nothing.
CLOSE_AFTER = ("body_timeout", "payload_too_large")


def _error(exc: RequestError) -> JSONResponse:
    headers = {"connection": "close"} if exc.error_type in CLOSE_AFTER else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def read_body(request: Request, limit: int, timeout_s: float | None = None) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass `limit` bytes, and with 408
    when it has not all arrived `timeout_s` after the headers (None: no deadline)."""

    def too_large(size: str) -> RequestError:
        return RequestError(
            413,
            "payload_too_large",
            f"request body is {size} bytes, over the {limit}-byte limit (--max-body-bytes)",
        )

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(declared)

    async def chunks() -> bytes:
        parts = []
        size = 0
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(f"more than {limit}")
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    if timeout_s is None:
        return await chunks()
    try:
        if _timeout is not None:  # Python 3.11+: a deadline without a task of its own
            async with _timeout(timeout_s):
                return await chunks()
        return await asyncio.wait_for(chunks(), timeout_s)
    except asyncio.TimeoutError:
        raise RequestError(
            408,
            "body_timeout",
            f"the request body did not all arrive within {timeout_s:g} s of its headers (--body-timeout)",
        ) from None


def _classifier_fn(clf: TextClassifier, max_batch: int):  # type: ignore[no-untyped-def]
    """What the batcher runs on its thread: (prediction, logits row) for each input."""
    n = len(clf.labels)
    # As TextClassifier.predict: the manifest's tuned per-label thresholds, else 0.5.
    thresholds = (
        np.asarray(clf.manifest.thresholds) if clf.manifest.thresholds is not None else np.full(n, 0.5)
    )

    def run(items: list[TextInput]) -> list[tuple[Any, list[float]]]:
        logits = clf.logits(items, batch_size=max_batch)
        preds = to_predictions(logits, clf.task, clf.labels, thresholds)
        return list(zip(preds, logits.tolist()))

    return run


def _first_truncated(clf: TextClassifier, items: list[TextInput]) -> int | None:
    """Index of the first input longer than the model's max_length, or None."""
    found = clf.longer_than_max(items)
    return found[0] if found else None


def info(clf: TextClassifier, config: ServeConfig, version: str) -> dict[str, Any]:
    """GET /info: text-embeddings-inference's fields that apply, then clf's own."""
    labels = list(clf.labels)
    return {
        "model_id": clf.folder.resolve().name,
        "model_dtype": clf.precision,
        "model_type": {
            "classifier": {
                "id2label": {str(i): lab for i, lab in enumerate(labels)},
                "label2id": {lab: i for i, lab in enumerate(labels)},
            }
        },
        "max_input_length": clf.manifest.max_length,
        "max_client_batch_size": config.max_inputs,
        "max_concurrent_requests": config.max_concurrent,
        "version": version,
        "task": clf.task,
        "labels": labels,
        "text_pair": clf.text_pair,
        "provider": clf.provider,
        "precision": clf.precision,
        "max_length": clf.manifest.max_length,
        "max_batch": config.max_batch,
        "max_wait_ms": config.max_wait_ms,
        "max_inputs": config.max_inputs,
        "max_body_bytes": config.max_body_bytes,
        "header_timeout_s": config.header_timeout_s,
        "body_timeout_s": config.body_timeout_s,
        "max_header_bytes": config.max_header_bytes,
        "max_headers": config.max_headers,
        "min_score": config.min_score,
    }


def create_app(clf: TextClassifier, config: ServeConfig, version: str = "0.0.0") -> Starlette:
    """An app serving `clf`; its batcher starts and stops with the app's lifespan."""
    service = _Service(clf, config, version)
    middleware = []
    if config.api_key is not None:
        middleware.append(Middleware(KeyCheck, key=config.api_key, refused=service.unauthorized))
    app = Starlette(
        routes=[Route(e.path, getattr(service, e.handler), methods=[e.method]) for e in ENDPOINTS],
        middleware=middleware,
        lifespan=service.lifespan,
        exception_handlers={HTTPException: service.http_error, Exception: service.internal_error},
    )
    app.state.metrics = service.metrics
    app.state.batcher = service.batcher
    return app


class _Service:
    """What the routes share: the model, the config, the metrics, the batcher and the requests in flight."""

    def __init__(self, clf: TextClassifier, config: ServeConfig, version: str) -> None:
        self.clf = clf
        self.config = config
        self.metrics = Metrics()
        self.batcher = Batcher(
            _classifier_fn(clf, config.max_batch), config.max_batch, config.max_wait_ms / 1000, self._on_batch
        )
        self.info_body = info(clf, config, version)
        self.openapi_body = openapi(version, keyed=config.api_key is not None)
        self.tokens = Tokens(clf.tokenizer)
        self.active = 0  # /predict requests being answered

    def _on_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(seconds)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.batcher.start()
        try:
            yield
        finally:
            await self.batcher.stop()

    async def predict(self, request: Request) -> Response:
        """POST /predict, / and /invocations."""
        metrics, batcher = self.metrics, self.batcher
        start = time.perf_counter()
        metrics.in_flight.inc()
        batcher.expect()
        submitted = False
        holds_slot = False
        try:
            req = await self._checked(request)
            # The --max-concurrent slot is taken once the body is read and checked, so clients that
            # upload slowly (or stall until --body-timeout) never keep others from the model.
            if self.active >= self.config.max_concurrent:
                raise self._overloaded()
            self.active += 1
            holds_slot = True
            metrics.queued.set(batcher.queued + len(req.inputs))
            submitted = True  # submit() takes the request off the batcher's expected count
            response = await self._answer(req)
        except RequestError as exc:
            metrics.errors.labels(exc.error_type).inc()
            response = _error(exc)
        except ClientDisconnect:  # nobody to answer
            response = Response(status_code=400)
        except Exception:
            log.exception("model call failed")
            metrics.errors.labels("backend").inc()
            response = JSONResponse({"error": "the model failed on this batch", "error_type": "backend"}, 500)
        finally:
            if not submitted:
                batcher.give_up()
            if holds_slot:
                self.active -= 1
            metrics.in_flight.dec()
            metrics.queued.set(batcher.queued)
        metrics.requests.labels(request.url.path, str(response.status_code)).inc()
        metrics.latency.observe(time.perf_counter() - start)
        return response

    async def _answer(self, req: PredictRequest) -> Response:
        """Run the checked request through the batcher: one answer, or a list for a batched request."""
        results = await self.batcher.submit(req.inputs)
        labels, min_score = self.clf.labels, self.config.min_score
        answers = [answer(pred, row, labels, req, min_score) for pred, row in results]
        self.metrics.inputs.inc(len(answers))
        return JSONResponse(answers if req.batched else answers[0])

    def _overloaded(self) -> RequestError:
        return RequestError(
            429,
            "overloaded",
            f"{self.config.max_concurrent} requests are being answered (--max-concurrent): retry later",
        )

    async def _checked(self, request: Request) -> PredictRequest:
        clf, config = self.clf, self.config
        body = await read_body(request, config.max_body_bytes, config.body_timeout_s)
        req = parse_predict(decode_json(body), clf.text_pair, config.max_inputs)
        if not req.truncate:
            loop = asyncio.get_running_loop()
            index = await loop.run_in_executor(None, _first_truncated, clf, req.inputs)
            if index is not None:
                raise RequestError(
                    413,
                    "validation",
                    f"inputs[{index}] is longer than the model's {clf.manifest.max_length} tokens: "
                    'shorten it or send "truncate": true',
                )
        return req

    async def health(self, request: Request) -> Response:
        """GET /health, / and /ping."""
        route = request.url.path
        if not self.batcher.running:  # the model worker is gone: the server cannot answer /predict
            self.metrics.requests.labels(route, "503").inc()
            return JSONResponse({"error": "the model worker is not running", "error_type": "unhealthy"}, 503)
        self.metrics.requests.labels(route, "200").inc()
        return JSONResponse({"status": "ok"})

    async def tokenize(self, request: Request) -> Response:
        def work(payload: Any) -> Any:
            return self.tokens.tokenize(parse_tokenize(payload, self.config.max_inputs))

        return await self._tokens("/tokenize", request, work)

    async def decode(self, request: Request) -> Response:
        def work(payload: Any) -> Any:
            req = parse_decode(payload, self.config.max_inputs, self.tokens.vocab_size)
            return self.tokens.decode(req)

        return await self._tokens("/decode", request, work)

    async def _tokens(self, route: str, request: Request, work: Callable[[Any], Any]) -> Response:
        """Check a /tokenize or /decode body, then run the tokenizer off the event loop."""
        try:
            body = await read_body(request, self.config.max_body_bytes, self.config.body_timeout_s)
            payload = decode_json(body)
            loop = asyncio.get_running_loop()
            response = JSONResponse(await loop.run_in_executor(None, work, payload))
        except RequestError as exc:
            self.metrics.errors.labels(exc.error_type).inc()
            response = _error(exc)
        except ClientDisconnect:
            response = Response(status_code=400)
        self.metrics.requests.labels(route, str(response.status_code)).inc()
        return response

    async def get_openapi(self, request: Request) -> Response:
        self.metrics.requests.labels("/openapi.json", "200").inc()
        return JSONResponse(self.openapi_body)

    def unauthorized(self, path: str) -> None:
        """Count a request KeyCheck refused (by route, never by what it sent)."""
        self.metrics.errors.labels("unauthorized").inc()
        self.metrics.requests.labels(path if path in PATHS else "other", "401").inc()

    async def get_info(self, request: Request) -> Response:
        self.metrics.requests.labels("/info", "200").inc()
        return JSONResponse(self.info_body)

    async def get_metrics(self, request: Request) -> Response:
        self.metrics.requests.labels("/metrics", "200").inc()
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind, message = _http_error_message(request, exc)
        self.metrics.errors.labels(kind).inc()
        self.metrics.requests.labels("other", str(exc.status_code)).inc()
        return JSONResponse({"error": message, "error_type": kind}, exc.status_code, headers=exc.headers)

    async def internal_error(self, request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        self.metrics.errors.labels("internal").inc()
        return JSONResponse({"error": "internal server error", "error_type": "internal"}, 500)


def _http_error_message(request: Request, exc: HTTPException) -> tuple[str, str]:
    """(error_type, message) of a refusal Starlette raised itself: no such route, wrong method, ..."""
    if exc.status_code == 404:
        return "not_found", f"no route {request.url.path}; routes: {ROUTES}"
    if exc.status_code == 405:
        return "method_not_allowed", f"{request.method} {request.url.path} is not a route; routes: {ROUTES}"
    return "http", str(exc.detail)
