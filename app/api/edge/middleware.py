"""The one middleware every HTTP request passes: shed load, then time and count it, and
give every answer the service's HTTP hygiene headers (`app.api.edge.hygiene`).

Shedding (`app.api.edge.overload`) and the HTTP metrics (`app.api.edge.httpmetrics`) were two
Litestar middlewares, 5.5 µs of a 28 µs JWKS fetch (in-process, without the server):
besides their own two layers, Litestar puts an exception-handling layer in front of
every route handler as soon as any middleware is declared. `create_app` wraps the app's
request handler (router and exception handling) in this one layer instead: 2.3 µs less
per request. It runs before routing, so overload is refused before any routing work;
the route template (`path_template`, set in the scope by the router) is read once the
request is done. Shed requests are counted too, under the route label `overloaded`:
an operator sees the 429s in `statuspass_requests`.

`HEAD` is answered here too, for every route with a `GET`: Litestar routes no HEAD of its
own (a 405), and its HEAD handlers may not return a body to measure. The request goes
through routing as the GET it asks about and the body is dropped on the way out; the
headers, `Content-Length`, `ETag` and 304s are the GET's (RFC 9110 §9.3.2).
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, Message, Receive, Scope, Send

from app.api.edge.httpmetrics import HTTP_STATS
from app.api.edge.hygiene import Hygiene
from app.api.edge.overload import EXEMPT, OVERLOADED_BODY, OVERLOADED_START, InFlight

__all__ = ["Edge"]


class Edge:
    """ASGI middleware: at most `in_flight.limit` HTTP requests in flight in this worker
    (health probes and metrics exempt), each timed and counted by route and status, each
    answer given the `hygiene` headers; HEAD answered as GET without the body."""

    def __init__(self, app: ASGIApp, in_flight: InFlight, hygiene: Hygiene | None = None) -> None:
        self.app = app
        self.state = in_flight
        self.hygiene = hygiene or Hygiene()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = self.state
        method = scope["method"]
        head = method == "HEAD"
        if head:
            scope = scope.copy()
            scope["method"] = "GET"
        guarded = scope["path"] not in EXEMPT
        if guarded and state.count >= state.limit:
            await send(self.hygiene.start(scope, OVERLOADED_START))
            await send(OVERLOADED_BODY if not head else _EMPTY_END)
            HTTP_STATS.record(method, "overloaded", 429, time.perf_counter() - start)
            return
        status = 500
        hygiene = self.hygiene

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = hygiene.start(scope, message)
            elif head and message["type"] == "http.response.body":
                message = {
                    "type": "http.response.body",
                    "body": b"",
                    "more_body": message.get("more_body", False),
                }
            await send(message)

        if guarded:
            state.count += 1
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if guarded:
                state.count -= 1
            HTTP_STATS.record(
                method,
                scope.get("path_template") or "unmatched",
                status,
                time.perf_counter() - start,
            )


_EMPTY_END: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
