"""A 200 JSON answer encoded once and sent as a bare ASGI app.

A route handler that returns a msgspec Struct goes through Litestar's response layer: a
`Response` object, the serializer looked up and called with the app's type encoders,
headers normalised, then an `ASGIResponse` built and called. For the online checks,
answered at national scale, that was about an eighth of a check's CPU in-process. A
handler that returns an ASGI app is only handed it back, so these routes encode their
result with msgspec (the encoder Litestar would use, with no custom types involved) and
return it as `JSONAnswer`; the route declares the documented body with `responses=`,
so the OpenAPI document keeps the same schema. Errors still raise and reach the app's
exception handlers as before.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.types import Receive, Scope, Send

__all__ = ["JSONAnswer"]

_encode = msgspec.json.Encoder().encode
_JSON = (b"content-type", b"application/json")


class JSONAnswer:
    """`status` with `value` encoded as JSON: content-type and content-length, nothing else
    (what Litestar sends for a Struct)."""

    __slots__ = ("_body", "_start")

    def __init__(self, value: Any, status: int = 200) -> None:
        body = _encode(value)
        self._start = {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", b"%d" % len(body))],
        }
        self._body = {"type": "http.response.body", "body": body, "more_body": False}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(self._start)  # type: ignore[arg-type]
        await send(self._body)  # type: ignore[arg-type]
