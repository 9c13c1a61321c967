"""Shedding load before it becomes latency: a per-worker cap on requests in flight.

Past the cap a request is answered at once with 429 and `Retry-After`, instead of queueing
behind thousands of others until every client times out. Health probes are never shed.
"""

from __future__ import annotations

import json

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

__all__ = ["InFlight", "OverloadGuard"]

_EXEMPT = ("/health", "/ready", "/metrics")
_BODY = json.dumps(
    {
        "type": "https://statuspass.invalid/problems/overloaded",
        "title": "Too many requests",
        "status": 429,
        "detail": "the service is at capacity; retry shortly",
    }
).encode()
_START: HTTPResponseStartEvent = {
    "type": "http.response.start",
    "status": 429,
    "headers": [
        (b"content-type", b"application/problem+json"),
        (b"retry-after", b"1"),
        (b"content-length", str(len(_BODY)).encode()),
    ],
}
_END: HTTPResponseBodyEvent = {"type": "http.response.body", "body": _BODY, "more_body": False}


class InFlight:
    """The worker's count, shared by the middleware instance Litestar builds per route."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0


class OverloadGuard:
    """ASGI middleware: at most `limit` HTTP requests in flight in this worker."""

    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.state = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
        state = self.state
        if state.count >= state.limit:
            await send(_START)
            await send(_END)
            return
        state.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            state.count -= 1
