"""Each issuance answers from the right as it is stored at that moment, on every store.

A Redis worker makes a renewed proof from the entitlement it last issued on, and the
save script compares versions (one round trip), instead of reading it first (two).
These tests change the right between issuances, and between an issuance's read and its
save, and check that no proof is ever made from the old one, and no refusal either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from app_on_loop import BACKENDS, backend_settings, worker
from conftest import store_url

from app.config import Settings
from app.domain.ports import Store
from app.domain.records import INVALID, AuditEvent, Entitlement, EntitlementWrite, ProofRecord
from tests.integration.api.conftest import Api, FrozenClock, auth, make_settings

Change = Callable[[Entitlement], Entitlement]


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return backend_settings(request, tmp_path)


def _name(token: str) -> object:
    part = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims.get("nam")


async def _issue(api: Api, nrn: str) -> tuple[int, dict[str, Any]]:
    r = await api.http.post(
        "/v1/me/proofs", headers=api.citizen(nrn), json={"type": "social_tariff", "qr": []}
    )
    body: dict[str, Any] = r.json()
    return r.status_code, body


async def _set_status(api: Api, source: str, nrn: str, what: str) -> None:
    r = await api.http.post(
        f"/v1/entitlements/social_tariff/{what}", headers=auth(source), json={"nrn": nrn}
    )
    assert r.status_code == 200, r.text


async def _issuances(store: Store) -> int:
    return len([r async for r in store.iter_audit() if r.event.action == "issue"])


async def test_each_renewal_sees_the_right_as_it_is_now(settings: Settings) -> None:
    async with worker(settings, FrozenClock()) as api:
        source = await api.client("source", ["social_tariff"])
        nrn = api.nrn()
        await api.grant(source, "social_tariff", nrn, given="Jan", family="Peeters")
        for _ in range(2):  # a renewal, as the citizen's screen does
            status, body = await _issue(api, nrn)
            assert status == 201 and _name(body["token"]) == "J. PEETERS"

        await _set_status(api, source, nrn, "suspend")
        status, body = await _issue(api, nrn)
        assert status == 409 and "not active" in body["detail"]
        await _set_status(api, source, nrn, "reinstate")
        status, body = await _issue(api, nrn)  # not refused on what it saw before
        assert status == 201

        # the source corrects the name: the next proof carries the new one
        r = await api.grant(source, "social_tariff", nrn, given="Jan", family="Maes")
        assert r.status_code == 200, r.text
        status, body = await _issue(api, nrn)
        assert status == 201 and _name(body["token"]) == "J. MAES"

        await _set_status(api, source, nrn, "revoke")
        status, body = await _issue(api, nrn)
        assert status == 409 and "not active" in body["detail"]
        assert await _issuances(api.services.store) == 4


async def test_a_right_extended_in_its_last_second_is_not_refused_on_the_old_end(
    settings: Settings,
) -> None:
    """A worker's hint says the right ends within this second (no proof could be made);
    the source has extended it meanwhile: the answer comes from the right as stored."""
    async with worker(settings, FrozenClock()) as api:
        source = await api.client("source", ["social_tariff"])
        nrn = api.nrn()
        now = api.clock.now()

        async def grant(until: datetime) -> None:
            r = await api.http.put(
                "/v1/entitlements/social_tariff",
                headers=auth(source),
                json={
                    "nrn": nrn,
                    "holder": {"given_name": "Jan", "family_name": "Peeters"},
                    "valid_from": (now - timedelta(days=1)).isoformat(),
                    "valid_until": until.isoformat(),
                    "attributes": {},
                },
            )
            assert r.status_code in (200, 201), r.text

        await grant(now + timedelta(minutes=10, milliseconds=500))
        assert (await _issue(api, nrn))[0] == 201
        await grant(now + timedelta(days=365))
        api.clock.advance(600.2)  # within the old end's last second
        status, body = await _issue(api, nrn)
        assert status == 201, body


class _Racing:
    """The store, with a source's write landing between an issuance's read and its save
    (`writes` times)."""

    def __init__(self, store: Store, change: Change, writes: int) -> None:
        self._store = store
        self._change = change
        self.writes = writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def save_proof(
        self, proof: ProofRecord, code: str | None, audit: AuditEvent, basis: Entitlement | None
    ) -> bool:
        if self.writes and basis is not None:
            self.writes -= 1
            changed = self._change(basis)
            await self._store.save_entitlement(
                EntitlementWrite(
                    ent=changed,
                    expected_version=basis.version,
                    status_updates=[],
                    cards=[],
                    audit=AuditEvent(at=changed.updated_at, actor="test", action="update"),
                )
            )
        return await self._store.save_proof(proof, code, audit, basis)


def _renamed(ent: Entitlement) -> Entitlement:
    holder = msgspec.structs.replace(ent.holder, family_name=ent.holder.family_name + "-Maes")
    return msgspec.structs.replace(ent, holder=holder, version=ent.version + 1)


def _revoked(ent: Entitlement) -> Entitlement:
    return msgspec.structs.replace(ent, status=INVALID, reason="test", version=ent.version + 1)


async def _racing_issue(
    settings: Settings, change: Change, writes: int
) -> tuple[int, dict[str, Any], int, int]:
    """(HTTP status, body, races left, issuances audited) of one issuance of a fresh
    citizen while `change` lands `writes` times between a read and a save."""
    async with worker(settings, FrozenClock()) as api:
        source = await api.client("source", ["social_tariff"])
        nrn = api.nrn()
        await api.grant(source, "social_tariff", nrn, given="Jan", family="Peeters")
        store = api.services.store
        racing = _Racing(store, change, writes)
        api.services.proofs._store = racing  # type: ignore[assignment]
        status, body = await _issue(api, nrn)
        return status, body, racing.writes, await _issuances(store)


async def test_a_change_between_read_and_save_is_in_the_proof(settings: Settings) -> None:
    status, body, left, issued = await _racing_issue(settings, _renamed, writes=1)
    assert left == 0  # the race happened
    assert status == 201 and _name(body["token"]) == "J. PEETERS-MAES"
    assert issued == 1


async def test_a_revocation_between_read_and_save_gives_no_proof(settings: Settings) -> None:
    status, body, left, issued = await _racing_issue(settings, _revoked, writes=1)
    assert left == 0
    assert status == 409 and "not active" in body["detail"]
    assert issued == 0


async def test_a_right_that_keeps_changing_is_a_conflict_not_a_loop(settings: Settings) -> None:
    status, body, left, issued = await _racing_issue(settings, _renamed, writes=100)
    assert status == 409 and "kept changing" in body["detail"]
    assert 90 <= left < 100  # a few attempts, then an answer
    assert issued == 0


@pytest.mark.cluster
async def test_a_renewal_at_the_same_worker_takes_one_round_trip_on_redis(
    request: pytest.FixtureRequest, tmp_path: Path, round_trips: list[int]
) -> None:
    """What the hint saves: the read before the save, whenever the worker issued on the
    same right before; after a change, the refused save hands over the new right."""
    settings = make_settings(tmp_path, store_url=store_url(request, "redis", tmp_path))
    async with worker(settings, FrozenClock()) as api:
        source = await api.client("source", ["social_tariff"])
        warm, nrn = api.nrn(), api.nrn()
        for citizen in (warm, nrn):
            await api.grant(source, "social_tariff", citizen)
        assert (await _issue(api, warm))[0] == 201  # the scripts loaded, a lane opened

        async def trips() -> int:
            before = round_trips[0]
            status, _ = await _issue(api, nrn)
            assert status == 201
            return round_trips[0] - before

        assert [await trips(), await trips(), await trips()] == [2, 1, 1]
        await api.grant(source, "social_tariff", nrn, family="Maes")
        assert [await trips(), await trips()] == [2, 1]  # refused save, save; then one
