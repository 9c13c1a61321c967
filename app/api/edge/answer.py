"""Answers built outside Litestar's response layer: a JSON answer encoded once and sent
as a bare ASGI app, and a cacheable document answered with an ETag (304 when unchanged).

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

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.types import Receive, Scope, Send

__all__ = ["JSONAnswer", "conditional"]

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


def conditional(
    request: Request[Any, Any, Any], body: bytes, media: str, max_age: int, etag: str | None = None
) -> Response[bytes]:
    """`body` as a public document cacheable for `max_age` seconds, or a 304 when the
    client's `If-None-Match` names its ETag (the body's hash unless `etag` is given)."""
    etag = etag or f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)
