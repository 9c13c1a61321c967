"""Load shedding: past the in-flight cap a request is answered 429 at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.api.edge.httpmetrics import HTTP_STATS
from app.api.edge.middleware import Edge
from app.api.edge.overload import InFlight


async def test_requests_past_the_cap_get_429_and_retry_after() -> None:
    gate = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    shared = InFlight(limit=2)
    # Litestar builds one middleware per route: the count must be shared between them
    guards = [Edge(slow_app, shared), Edge(slow_app, shared)]
    sent: list[list[dict[str, Any]]] = [[] for _ in range(4)]

    def call(i: int, path: str) -> asyncio.Task[None]:
        async def send(message: dict[str, Any]) -> None:
            sent[i].append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "method": "POST", "path": path, "path_template": path}
        return asyncio.create_task(guards[i % 2](scope, receive, send))  # type: ignore[arg-type]

    shed_before = HTTP_STATS.requests.get(("POST", "overloaded", 429), 0)
    held = [call(0, "/v1/verify"), call(1, "/v1/verify")]
    await asyncio.sleep(0.01)
    await call(2, "/v1/verify")
    start, body = sent[2]
    assert start["status"] == 429
    assert dict(start["headers"])[b"retry-after"] == b"1"
    assert json.loads(body["body"])["status"] == 429
    # the operator sees it: shed requests are counted by route and status
    assert HTTP_STATS.requests[("POST", "overloaded", 429)] == shed_before + 1
    probe = call(3, "/health")  # never shed
    await asyncio.sleep(0.01)
    assert sent[3] == []  # it went through to the (blocked) app, not refused
    gate.set()
    await asyncio.gather(*held, probe)
    assert [m["status"] for m in (sent[0][0], sent[1][0], sent[3][0])] == [200, 200, 200]
    assert shared.count == 0
