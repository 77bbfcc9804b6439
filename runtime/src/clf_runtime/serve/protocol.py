"""uvicorn's httptools protocol with clf's limits on what a client sends before its request starts.

uvicorn (0.34 to 0.55) puts no time limit on reading a request's headers (a connection that sends
nothing, or half a header line, stays open), no limit on their size with httptools (a 10 MB header
was read whole), and answers malformed HTTP with a plain-text 400 that never reaches the app, so
never reaches /metrics. This subclass adds, per connection:

- a deadline for the headers of each request, from the connection's start or the request's first
  byte: past it, 408 `header_timeout` and the connection is closed;
- a limit on the header block's bytes (request line included) and on the number of header lines:
  past it, 431 `headers_too_large`, as soon as the limit is passed (the rest is never buffered);
- malformed HTTP answered as every other refusal: clf's JSON `{"error", "error_type": "http"}`.

Each of these is counted in the app's metrics. The body's deadline is the app's (app.read_body):
only the app knows when it has read what it needs.
"""

from __future__ import annotations

import json
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from clf_runtime.serve.metrics import Metrics


@dataclass(frozen=True)
class HeaderLimits:
    timeout_s: float
    max_bytes: int
    max_count: int


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request clf refuses."""


def protocol_class(limits: HeaderLimits, metrics: Metrics) -> type[HttpToolsProtocol]:
    """An HttpToolsProtocol subclass enforcing `limits` and counting refusals in `metrics`."""

    class ClfHttpProtocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_bytes = 0  # bytes received while this request's headers are incomplete
            self._parsed_bytes = 0  # bytes of its request line and header lines parsed
            self._header_count = 0
            self._refusal: tuple[int, str, str] | None = None
            self._header_timer: TimerHandle | None = None
            self._awaiting_headers = True
            self._arm_header_timer()  # a connection that never sends a byte is timed too

        def _should_upgrade(self) -> bool:
            return False  # clf-serve serves no WebSocket, even where a WebSocket library is installed

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            # uvicorn's own, but a parser error keeps its reason for the answer and is not logged
            # (a client could fill the log), and an upgrade clf does not serve is plain HTTP, silently.
            self._unset_keepalive_if_required()
            if self._awaiting_headers:
                self._arm_header_timer()
                self._header_bytes += len(data)
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                pass  # no WebSocket here: the request is answered as plain HTTP
            except httptools.HttpParserError as exc:
                # A callback's own exception is the context of the parser's: say what the parser saw.
                reason = f"malformed HTTP request: {exc.__context__ or exc}"
                self._refuse(*(self._refusal or (400, "http", reason)))
                return
            if self._awaiting_headers and self._header_bytes > limits.max_bytes and self.parser is not None:
                self._refuse(*_too_large(f"more than {limits.max_bytes} bytes"))

        # --- parser callbacks -----------------------------------------------------------------

        def on_url(self, url: bytes) -> None:
            self._count_header_bytes(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > limits.max_count:
                self._refusal = _too_large(f"more than {limits.max_count} header lines")
                raise _Refused
            self._count_header_bytes(len(name) + len(value) + 4)  # ": " and CRLF
            super().on_header(name, value)

        def _count_header_bytes(self, n: int) -> None:
            # data_received bounds what is buffered; this catches a whole block that came in one read.
            self._parsed_bytes += n
            if self._parsed_bytes > limits.max_bytes:
                self._refusal = _too_large(f"more than {limits.max_bytes} bytes")
                raise _Refused

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._disarm_header_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            # What follows on this connection is the next request's header block.
            self._awaiting_headers = True
            self._header_bytes = self._parsed_bytes = self._header_count = 0

        # --- refusals -------------------------------------------------------------------------

        def send_400_response(self, msg: str) -> None:  # uvicorn's other callers, if any
            self._refuse(*(self._refusal or (400, "http", "malformed HTTP request: " + msg)))

        def _refuse(self, status: int, kind: str, message: str) -> None:
            self._disarm_header_timer()
            self._awaiting_headers = False
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:  # not mid-answer
                body = json.dumps({"error": message, "error_type": kind}).encode()
                self.transport.write(
                    b"".join(
                        [
                            STATUS_LINE[status],
                            b"content-type: application/json\r\n",
                            b"content-length: %d\r\n" % len(body),
                            b"connection: close\r\n\r\n",
                            body,
                        ]
                    )
                )
                metrics.errors.labels(kind).inc()
                metrics.requests.labels("other", str(status)).inc()
            self.transport.close()

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(limits.timeout_s, self._headers_timed_out)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self) -> None:
            self._header_timer = None
            if not self._awaiting_headers:
                return
            if not (self.cycle is None or self.cycle.response_complete):
                self._arm_header_timer()  # a pipelined request waits for the answer before it
                return
            if self._header_bytes == 0:
                self.transport.close()  # an idle connection: nothing was asked, nothing to answer
                return
            self._refuse(
                408,
                "header_timeout",
                f"the request's headers did not arrive within {limits.timeout_s:g} s (--header-timeout)",
            )

    return ClfHttpProtocol


def _too_large(what: str) -> tuple[int, str, str]:
    return 431, "headers_too_large", f"the request's header block has {what} (limit reached): send fewer"


__all__ = ["HeaderLimits", "protocol_class"]
