"""Regressions, one test per defect found (after pyjwt's tests/test_advisory.py): how long
a proof or a card is valid, and the dates that say so (issue 19, items 1, 2 and 4).

Each runs the real app over HTTP on SQLite and on Redis.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from anyio.from_thread import BlockingPortal
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.domain.records import (
    VALID,
    AuditEvent,
    CardRecord,
    Entitlement,
    EntitlementWrite,
    Holder,
)
from app.domain.registry import load_registry
from app.storage import open_store
from app.tokens import KeySet, parse_jwks, parse_status_list, verify_offline
from tests.integration.api.conftest import ISSUER, Api, FrozenClock, auth, make_settings

CARD = "4455667700"
T = TypeVar("T")


def _store_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/statuspass.sqlite3"
    server = request.getfixturevalue("redis_server")  # tests/integration/conftest.py
    server.flushall()
    return str(server.url)


class LoopApi(Api):
    """`Api` whose direct store calls run on the app's event loop: the test client serves
    the app from a thread of its own, and a Redis connection belongs to one loop."""

    def on_app_loop(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        portal: BlockingPortal = self.http.blocking_portal
        return portal.call(fn, *args)

    async def client(self, role: str, types: list[str], name: str | None = None) -> str:
        return self.on_app_loop(super().client, role, types, name)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.cluster)])
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[LoopApi]:
    """The conftest's `api`, once per store (the other fixtures build on it)."""
    settings = make_settings(tmp_path, store_url=_store_url(request, request.param, tmp_path))
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app) as http:
        yield LoopApi(http=http, app=app, settings=settings, clock=clock)


def _body(api: LoopApi, nrn: str, valid_until: str, **attributes: str) -> dict[str, Any]:
    return {
        "nrn": nrn,
        "holder": {"given_name": "Jan", "family_name": "Peeters"},
        "valid_from": (api.clock.now() - timedelta(days=1)).isoformat(),
        "valid_until": valid_until,
        "attributes": {"card_number": CARD, **attributes},
    }


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    out: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


async def _typed(api: LoopApi, key: str, number: str = CARD) -> dict[str, Any]:
    r = await api.http.post(
        "/v1/parking-cards/check", headers=auth(key), json={"card_number": number}
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _offline(api: LoopApi, token: str) -> tuple[str, str | None]:
    keys = parse_jwks((await api.http.get("/.well-known/jwks.json")).content)
    uri = _claims(token)["status"]["status_list"]["uri"]
    status = parse_status_list((await api.http.get(uri.removeprefix(ISSUER))).text, keys)
    r = verify_offline(
        token,
        jwks=KeySet(keys=keys, fetched_at=api.clock.now(), max_age_s=3600),
        status_lists={status.uri: status},
        now=api.clock.now(),
        registry=load_registry(),
        skew_s=api.settings.clock_skew_s,
    )
    return r.result, r.reason


async def _audited(api: LoopApi, action: str) -> list[tuple[str, str | None]]:
    async def read() -> list[tuple[str, str | None]]:
        return [
            (r.event.result, r.event.reason)
            async for r in api.services.store.iter_audit()
            if r.event.action == action
        ]

    return api.on_app_loop(read)


# -- item 1: a card has one validity ---------------------------------------------------


async def test_an_expired_card_is_expired_typed_and_scanned(
    api: LoopApi, source: str, police: str
) -> None:
    """A source sent `card_valid_until` earlier than `valid_until`: typing the number said
    `expired`, scanning the card's QR said `valid`. Now a card's validity is
    `valid_until`, sent once; the proof's `card_valid_until` is derived from it and its
    `exp` never passes it. Both doors answer alike, online and offline."""
    nrn = api.nrn()
    # the end of 2027-03-31 in Brussels, with a fraction a float would round up
    until = "2027-03-31T23:59:59.999999+02:00"
    r = await api.http.put(
        "/v1/entitlements/parking_card", headers=auth(source), json=_body(api, nrn, until)
    )
    assert r.status_code == 201, r.text
    proof = await api.proof(nrn, "parking_card", qr=[])
    claims = _claims(proof["token"])
    end = int(datetime.fromisoformat(until).timestamp() // 1)
    assert claims["card_valid_until"] == "2027-03-31" and claims["exp"] <= end
    typed, scanned = await _typed(api, police), await api.verify(police, token=proof["token"])
    assert typed["result"] == scanned["result"] == "valid"
    assert (
        typed["attributes"]
        == scanned["attributes"]
        == {
            "card_number": CARD,
            "card_valid_until": "2027-03-31",
        }
    )
    assert typed["valid_until"] == scanned["valid_until"] == "2027-03-31T21:59:59Z"

    # `valid_until` is exclusive and a proof's `exp` is whole seconds, rounded down
    api.clock.t = datetime(2027, 3, 31, 21, 59, 58, tzinfo=UTC)  # the last whole second
    assert (await _typed(api, police))["result"] == "valid"
    assert (await api.verify(police, token=proof["token"]))["result"] == "valid"
    api.clock.advance(1)
    typed, scanned = await _typed(api, police), await api.verify(police, token=proof["token"])
    assert (typed["reason"], scanned["reason"]) == ("expired", "expired")
    assert await _offline(api, proof["token"]) == ("invalid", "expired")


async def test_card_valid_until_is_optional_and_must_agree(
    api: LoopApi, source: str, police: str
) -> None:
    """A source may still send `card_valid_until`; when it differs from the last day of
    `valid_until` the grant is refused (422) and nothing is stored, on a PUT and on a
    batch line, instead of two validities that disagree."""
    nrn = api.nrn()
    until = "2028-01-01T00:00:00+01:00"  # exclusive: the card is valid through 2027-12-31
    url = "/v1/entitlements/parking_card"
    for wrong in ("2027-06-30", "2028-01-01"):
        r = await api.http.put(
            url, headers=auth(source), json=_body(api, nrn, until, card_valid_until=wrong)
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "attributes.card_valid_until"
        assert "2027-12-31" in r.json()["detail"]  # says which day would agree
    assert (await _typed(api, police))["reason"] == "unknown_card"
    lines = [
        {"op": "upsert", "type": "parking_card", **_body(api, nrn, until, card_valid_until=d)}
        for d in ("2027-06-30", "2027-12-31")
    ]
    r = await api.http.post(
        "/v1/entitlements:batch",
        content=b"\n".join(json.dumps(line).encode() for line in lines),
        headers={**auth(source), "content-type": "application/x-ndjson"},
    )
    bad, good = (json.loads(x) for x in r.text.splitlines()[:2])
    assert (bad["ok"], bad["error"], good["ok"], good["outcome"]) == (
        False,
        "InvalidInput",
        True,
        "created",
    )
    # the agreeing date is the derived one: sending it again, or leaving it out, is
    # the same entitlement
    r = await api.http.put(url, headers=auth(source), json=_body(api, nrn, until))
    assert (r.status_code, r.json()["outcome"]) == (200, "unchanged")
    typed = await _typed(api, police)
    assert typed["attributes"]["card_valid_until"] == "2027-12-31"
    assert typed["valid_until"] == "2027-12-31T23:00:00Z"


async def test_a_card_not_yet_valid_is_not_valid_when_typed(
    api: LoopApi, source: str, police: str
) -> None:
    """Its QR cannot be issued before `valid_from` (409); its typed number said `valid`."""
    nrn, start = api.nrn(), api.clock.now() + timedelta(days=10)
    body = {
        **_body(api, nrn, (start + timedelta(days=365)).isoformat()),
        "valid_from": start.isoformat(),
    }
    r = await api.http.put("/v1/entitlements/parking_card", headers=auth(source), json=body)
    assert r.status_code == 201, r.text
    r = await api.http.post(
        "/v1/me/proofs", headers=api.citizen(nrn), json={"type": "parking_card", "qr": []}
    )
    assert r.status_code == 409
    typed = await _typed(api, police)
    assert (typed["result"], typed["reason"]) == ("invalid", "not_yet_valid")
    api.clock.t = start
    assert (await _typed(api, police))["result"] == "valid"


# -- item 2: dates that crashed ----------------------------------------------------------

BAD_DATES = [
    ("valid_until", "9999-12-31T23:59:59Z"),  # out of range (and a 500 on every check)
    ("valid_until", "9999-12-31T23:59:59-05:00"),  # past year 9999 in UTC
    ("valid_from", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
    ("valid_from", "1899-12-31T23:59:59Z"),
    ("valid_until", "3000-01-01T00:00:00Z"),
    ("valid_until", "2027-W52-5T00:00:00Z"),  # ISO week date
    ("valid_until", "20271231T000000Z"),  # basic format
    ("valid_until", "2027-12-31"),  # a date where a time is asked
    ("valid_until", "2027-12-31T00:00:00"),  # no offset: whose midnight?
    ("valid_until", "2027-12-31T00:00:00+0100"),  # not RFC 3339
    ("valid_until", "2027-12-31 00:00:00Z"),
    ("valid_until", "2027-02-30T00:00:00Z"),
    ("valid_until", "2027-12-31T23:59:60Z"),
    ("card_valid_until", "9999-12-31"),
    ("card_valid_until", "0001-01-01"),
    ("card_valid_until", "2027-W52-5"),
    ("card_valid_until", "20271231"),
    ("card_valid_until", "2027-365"),  # ordinal date
    ("card_valid_until", "2027-12-31T00:00:00Z"),
]


def _bad_body(api: LoopApi, field: str, value: str) -> dict[str, Any]:
    body = _body(api, api.nrn(), "2027-12-31T23:59:59+01:00")
    if field == "card_valid_until":
        body["attributes"]["card_valid_until"] = value
    else:
        body[field] = value
    return body


@pytest.mark.parametrize(("field", "value"), BAD_DATES, ids=[v for _, v in BAD_DATES])
async def test_dates_outside_the_one_form_and_range_are_refused_at_input(
    api: LoopApi, source: str, police: str, field: str, value: str
) -> None:
    """`card_valid_until: 9999-12-31` made every check of the card a 500 while the audit
    recorded it as valid; week and basic-format dates went into tokens as typed. Every
    date is now checked at input: a 422 naming the field, a failed batch line, nothing
    stored, so no later check can crash."""
    body = _bad_body(api, field, value)
    r = await api.http.put("/v1/entitlements/parking_card", headers=auth(source), json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == (
        "attributes.card_valid_until" if field.startswith("card") else field
    )
    line = {"op": "upsert", "type": "parking_card", **body}
    r = await api.http.post(
        "/v1/entitlements:batch",
        content=json.dumps(line).encode(),
        headers={**auth(source), "content-type": "application/x-ndjson"},
    )
    result = json.loads(r.text.splitlines()[0])
    assert (result["ok"], result["error"]) == (False, "InvalidInput")
    assert field in result["detail"]
    typed = await _typed(api, police)
    assert typed["reason"] == "unknown_card"
    assert await _audited(api, "grant") == []
    assert await _audited(api, "card_check") == [("invalid", "unknown_card")]


async def test_the_widest_accepted_dates_check_cleanly_and_the_audit_agrees(
    api: LoopApi, source: str, police: str
) -> None:
    """At the edges of the accepted range every door answers, and the audit holds exactly
    the verdicts the verifier was given."""
    nrn = api.nrn()
    body = {
        **_body(api, nrn, "2999-12-31T23:59:59+01:00"),
        "valid_from": "1900-01-01T00:00:00Z",
    }
    r = await api.http.put("/v1/entitlements/parking_card", headers=auth(source), json=body)
    assert r.status_code == 201, r.text
    proof = await api.proof(nrn, "parking_card", qr=[])
    typed, scanned = await _typed(api, police), await api.verify(police, token=proof["token"])
    assert typed["attributes"]["card_valid_until"] == "2999-12-31"
    assert (typed["result"], scanned["result"]) == ("valid", "valid")
    assert await _offline(api, proof["token"]) == ("valid", None)
    assert await _audited(api, "card_check") == [("valid", None)]
    assert await _audited(api, "verify") == [("valid", None)]


async def test_a_card_stored_with_a_date_past_year_9999_still_answers(
    api: LoopApi, police: str
) -> None:
    """A card written before dates were checked at input, ending past 9999-12-31 in UTC:
    its check answered 500 after the audit had recorded `valid`. Now it answers."""
    # written as an older version did, through a store of its own (the app's store
    # belongs to the app's event loop)
    store, subject = await open_store(api.settings.store_url), "s" * 64
    ref = await store.allocate_status_ref(subject)
    end = datetime(9999, 12, 31, 23, 59, 59, 999999).replace(
        tzinfo=datetime.fromisoformat("2000-01-01T00:00:00-05:00").tzinfo
    )
    ent = Entitlement(
        type="parking_card",
        subject=subject,
        holder=Holder(given_name="Jan", family_name="Peeters"),
        valid_from=api.clock.now() - timedelta(days=1),
        valid_until=end,
        attributes={"card_number": CARD, "card_valid_until": "9999-12-31"},
        status=VALID,
        status_ref=ref,
        reason=None,
        version=1,
        updated_at=api.clock.now(),
        updated_by="legacy",
    )
    card = CardRecord(number=CARD, subject=subject, status_ref=ref, valid_until=end)
    await store.save_entitlement(
        EntitlementWrite(
            ent=ent,
            expected_version=None,
            status_updates=(),
            cards=(card,),
            audit=AuditEvent(at=api.clock.now(), actor="legacy", action="grant", type=ent.type),
        )
    )
    await store.close()
    typed = await _typed(api, police)
    assert typed["result"] == "valid" and typed["valid_until"] == "9999-12-31T23:59:59Z"
    assert await _audited(api, "card_check") == [("valid", None)]


# -- item 4: online expiry -----------------------------------------------------------------


async def test_online_verify_ends_a_proof_at_its_exp(
    api: LoopApi, source: str, museum: str
) -> None:
    """`POST /v1/verify` answered `valid` 21 s after a proof's `exp`, with a `valid_until`
    in the past: the 60 s leeway stretched the end of our own tokens."""
    nrn = api.nrn()
    assert (await api.grant(source, "social_tariff", nrn)).status_code == 201
    proof = await api.proof(nrn, qr=[])
    exp = _claims(proof["token"])["exp"]
    api.clock.t = datetime.fromtimestamp(exp - 1, UTC)
    assert (await api.verify(museum, token=proof["token"]))["result"] == "valid"
    api.clock.t = datetime.fromtimestamp(exp + 21, UTC)
    late = await api.verify(museum, token=proof["token"])
    assert (late["result"], late["reason"]) == ("invalid", "expired")
    assert late["valid_until"] < late["checked_at"]
    assert await _audited(api, "verify") == [("valid", None), ("invalid", "expired")]


async def test_online_verify_keeps_the_leeway_for_iat(
    api: LoopApi, source: str, museum: str
) -> None:
    """A worker whose clock is a little behind the one that issued the proof still
    accepts it (the leeway stays for `iat`); beyond the leeway it is not yet valid."""
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    proof = await api.proof(nrn, qr=[])
    issued = api.clock.now()
    api.clock.t = issued - timedelta(seconds=api.settings.clock_skew_s)
    assert (await api.verify(museum, token=proof["token"]))["result"] == "valid"
    api.clock.t = issued - timedelta(seconds=api.settings.clock_skew_s + 1)
    assert (await api.verify(museum, token=proof["token"]))["reason"] == "not_yet_valid"
