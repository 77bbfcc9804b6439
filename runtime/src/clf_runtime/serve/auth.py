"""--api-key: every request but the health checks needs `Authorization: Bearer KEY`.

The key is compared in constant time (the SHA-256 digests of the sent token and of the key, with
hmac.compare_digest, so neither its value nor its length shows in the answer's timing), and it is
never logged, counted or echoed: a refusal is a 401 JSON error that names neither key. Plain ASGI,
no web framework: `check_settings` and `exposed` serve the command line before anything is loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from clf_runtime.errors import InputError
from clf_runtime.serve.api import PUBLIC
from clf_runtime.serve.config import ServeConfig

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

_REFUSAL = json.dumps(
    {
        "error": "this server needs an API key: send the header Authorization: Bearer <key>",
        "error_type": "unauthorized",
    }
).encode()


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class KeyCheck:
    """ASGI middleware refusing (401) the requests without the key; `refused(path)` counts them."""

    def __init__(self, app: ASGIApp, key: str, refused: Callable[[str], None]) -> None:
        self.app = app
        self._key = _digest(key.encode("ascii"))
        self._refused = refused

    def allowed(self, scope: Scope) -> bool:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        if (method, scope["path"]) in PUBLIC:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(_digest(token.strip()), self._key)
        return False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        self._refused(scope["path"])
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_REFUSAL)).encode()),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": _REFUSAL})


def check_settings(config: ServeConfig) -> None:
    """InputError for an API key no header can carry, or half of the HTTPS options."""
    if config.api_key is not None:
        check_api_key(config.api_key)
    if (config.ssl_certfile is None) != (config.ssl_keyfile is None):
        raise InputError("HTTPS needs both --ssl-certfile and --ssl-keyfile")


def check_api_key(key: str) -> None:
    """InputError unless `key` can be sent as `Authorization: Bearer KEY` (the message never shows it)."""
    if not key:
        raise InputError("the API key (--api-key or CLF_API_KEY) is empty: anyone could use the model")
    if not all("!" <= ch <= "~" for ch in key):
        raise InputError(
            "the API key (--api-key or CLF_API_KEY) must be printable ASCII without spaces, "
            "as an HTTP header carries it"
        )


def exposed(host: str) -> bool:
    """Whether a server listening on `host` (an address) may be reached from other machines."""
    try:
        return not ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # not an address: a name we cannot judge, so say it may be reached
        return True
