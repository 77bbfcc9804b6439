"""Run the clf-serve app under uvicorn on a socket bound here, so a busy port is a one-line error."""

from __future__ import annotations

import socket
import sys

import uvicorn

from clf_runtime.classifier import TextClassifier
from clf_runtime.errors import InputError
from clf_runtime.serve.app import create_app
from clf_runtime.serve.auth import exposed
from clf_runtime.serve.config import ServeConfig
from clf_runtime.serve.protocol import HeaderLimits, protocol_class


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc}: check --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror}: pick another --port or --host"
        ) from None
    sock.set_inheritable(True)
    return sock


def run(config: ServeConfig) -> None:
    """Load the model, then serve until SIGTERM/SIGINT; in-flight requests are answered first."""
    from clf_runtime import __version__

    clf = TextClassifier.load(
        config.model, provider=config.provider, threads=config.threads, precision=config.precision
    )
    app = create_app(clf, config, version=__version__)
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http=protocol_class(
                HeaderLimits(config.header_timeout_s, config.max_header_bytes, config.max_headers),
                app.state.metrics,
            ),
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=int(config.graceful_timeout_s),
            ssl_certfile=config.ssl_certfile,
            ssl_keyfile=config.ssl_keyfile,
        )
    )
    scheme = "https" if config.ssl_certfile else "http"
    keyed = ", API key required" if config.api_key is not None else ""
    print(
        f"clf-serve: {clf.task} model {clf.folder} ({clf.provider}, {clf.precision}{keyed}) "
        f"on {scheme}://{shown}:{port}",
        file=sys.stderr,
        flush=True,
    )
    if config.api_key is None and exposed(host):
        print(
            f"clf-serve: warning: {shown} is not a loopback address and there is no API key: anyone who "
            f"can reach port {port} can use the model. Set --api-key or CLF_API_KEY, and put a "
            "TLS-terminating proxy in front (README, clf-serve)",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
