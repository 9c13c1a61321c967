"""The real app over HTTP on the test's own event loop, on any store backend.

Litestar's test client serves the app from a thread of its own and answers one request
at a time. Here the app's lifespan and an httpx ASGI transport run on the test's loop:
requests gathered by a test are in flight together, as on a server, and the store's
connections belong to the test's loop, so the test may use the store directly too.
Two `worker`s on one store URL are two workers of one service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import store_url

from app.api import create_app
from app.config import Settings
from tests.integration.api.conftest import Api, FrozenClock, make_settings

__all__ = ["BACKENDS", "backend_settings", "granted_proof", "worker"]

BASE = "http://127.0.0.1"
BACKENDS = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.cluster),
    pytest.param("cluster", marks=pytest.mark.cluster),
]


def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of a service on an empty store of the backend `request.param` names."""
    return make_settings(tmp_path, store_url=store_url(request, request.param, tmp_path))


@asynccontextmanager
async def worker(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    """One worker of the service: an app with its own store connection and key ring."""
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield Api(http=http, app=app, settings=settings, clock=clock)  # type: ignore[arg-type]


async def granted_proof(api: Api) -> dict[str, Any]:
    """A social_tariff proof (with its code, without a QR image) of a fresh citizen."""
    source = await api.client("source", ["social_tariff"])
    nrn = api.nrn()
    assert (await api.grant(source, "social_tariff", nrn)).status_code in (200, 201)
    return await api.proof(nrn, qr=[])
