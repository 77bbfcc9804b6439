"""--api-key: every request but the health checks needs `Authorization: Bearer KEY`.

The key is compared in constant time (the SHA-256 digests of the sent token and of the key, with
hmac.compare_digest, so neither its value nor its length shows in the answer's timing), and it is
never logged, counted or echoed: a refusal is a 401 JSON error that names neither key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from clf_runtime.serve.api import PUBLIC


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        self._refused(scope["path"])
        response = JSONResponse(
            {
                "error": "this server needs an API key: send the header Authorization: Bearer <key>",
                "error_type": "unauthorized",
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
