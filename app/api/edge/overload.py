"""Shedding load before it becomes latency: a per-worker cap on requests in flight.

Past the cap a request is answered at once with 429 and `Retry-After`, instead of queueing
behind thousands of others until every client times out. Health probes are never shed.
The middleware that applies it is `app.api.edge.middleware.Edge`.
"""

from __future__ import annotations

import json

from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent

__all__ = ["EXEMPT", "OVERLOADED_BODY", "OVERLOADED_START", "InFlight"]

EXEMPT = ("/health", "/ready", "/metrics")
_BODY = json.dumps(
    {
        "type": "https://statuspass.invalid/problems/overloaded",
        "title": "Too many requests",
        "status": 429,
        "detail": "the service is at capacity; retry shortly",
    }
).encode()
OVERLOADED_START: HTTPResponseStartEvent = {
    "type": "http.response.start",
    "status": 429,
    "headers": [
        (b"content-type", b"application/problem+json"),
        (b"retry-after", b"1"),
        (b"content-length", str(len(_BODY)).encode()),
    ],
}
OVERLOADED_BODY: HTTPResponseBodyEvent = {
    "type": "http.response.body",
    "body": _BODY,
    "more_body": False,
}


class InFlight:
    """The worker's count, shared by the middleware instance Litestar builds per route."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
