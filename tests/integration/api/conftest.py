"""The real app over HTTP (Litestar's async test client) on a real SQLite store."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.api.state import Services
from app.auth import mint_dev_token
from app.config import Settings, load_settings
from app.domain import clients as client_ops
from app.tokens import generate_nrn

ISSUER = "https://statuspass.example.org"  # 30 characters, as the QR size rule assumes
T0 = datetime(2026, 11, 21, 13, 0, 0, tzinfo=UTC)


class FrozenClock:
    """The service's clock, moved by the test (no sleeps)."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class Api:
    http: AsyncTestClient[Litestar]
    app: Litestar
    settings: Settings
    clock: FrozenClock
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def services(self) -> Services:
        svc: Services = self.app.state.services
        return svc

    async def client(self, role: str, types: list[str], name: str | None = None) -> str:
        _, key = await client_ops.create_client(
            self.services.store,
            self.services.registry,
            name=name or f"{role} {types[0]}",
            role=role,
            types=types,
            now=self.clock.now(),
        )
        return key

    def nrn(self) -> str:
        return generate_nrn(self.rng)

    def citizen(self, nrn: str, **kw: Any) -> dict[str, str]:
        # ID tokens are checked by PyJWT against the real clock: mint them at real time
        token = mint_dev_token(self.settings, nrn, datetime.now(UTC), **kw)
        return {"Authorization": f"Bearer {token}"}

    async def grant(
        self,
        source_key: str,
        type_id: str,
        nrn: str,
        *,
        days: int = 365,
        given: str = "Jan",
        family: str = "Peeters",
        attributes: dict[str, str] | None = None,
    ) -> httpx.Response:
        now = self.clock.now()
        return await self.http.put(
            f"/v1/entitlements/{type_id}",
            headers=auth(source_key),
            json={
                "nrn": nrn,
                "holder": {"given_name": given, "family_name": family},
                "valid_from": (now - timedelta(days=1)).isoformat(),
                "valid_until": (now + timedelta(days=days)).isoformat(),
                "attributes": attributes or {},
            },
        )

    async def proof(self, nrn: str, type_id: str = "social_tariff", **body: Any) -> dict[str, Any]:
        r = await self.http.post(
            "/v1/me/proofs", headers=self.citizen(nrn), json={"type": type_id, **body}
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    async def verify(self, key: str, **body: Any) -> dict[str, Any]:
        r = await self.http.post("/v1/verify", headers=auth(key), json=body)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store_url": f"sqlite:///{tmp_path}/statuspass.sqlite3",
        "keys_dir": str(tmp_path / "keys"),
        "dev_idp": True,
        "issuer": ISSUER,
    }
    values.update(overrides)
    return load_settings({}, **values)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app) as http:
        yield Api(http=http, app=app, settings=settings, clock=clock)


@pytest.fixture
async def source(api: Api) -> str:
    return await api.client(
        "source", ["social_tariff", "living_wage", "parking_card"], name="CPAS Gent"
    )


@pytest.fixture
async def museum(api: Api) -> str:
    return await api.client("verifier", ["social_tariff"], name="Museum M")


@pytest.fixture
async def police(api: Api) -> str:
    return await api.client("verifier", ["parking_card"], name="Police zone Gent")
