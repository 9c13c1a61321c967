"""Numeric codes and failed lookups, over HTTP on every store (issue 19, items 3, 4, 6).

* A code answers what its proof's token answers once the proof's signing key is
  withdrawn (`unknown_key`), and stays valid while a rotated key is still published.
* An expired code answers `expired` for `CODE_HOLD_S` after its proof ends, then
  `unknown_code`; the store keeps it bound to its proof until then.
* The guess limit per verifier holds under hundreds of concurrent wrong codes or card
  numbers sent through two workers (two apps, each with its own store connection).
"""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_on_loop import BACKENDS, backend_settings, granted_proof, worker

from app.config import Settings
from app.domain import clients as client_ops
from app.domain.ports import CODE_HOLD_S
from app.keys.ring import retire_key, rotate_key
from app.tokens import new_code
from tests.integration.api.conftest import Api, FrozenClock, auth


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return backend_settings(request, tmp_path)


def reload_keys(api: Api) -> None:
    """As if the worker's periodic look at the key ring were due now (it looks every 2 s)."""
    api.services.keys._checked = float("-inf")


def verdict(answer: dict[str, Any]) -> tuple[str, str | None]:
    return answer["result"], answer["reason"]


# -- item 3: a withdrawn key takes its proofs' codes with it -----------------------------
async def test_withdrawn_key_stops_the_codes_of_its_proofs(settings: Settings) -> None:
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        old_kid = api.services.keys.signing_key().kid
        keys_dir = api.settings.keys_dir

        # rotated: a new key signs, the old one stays published until its proofs have ended
        rotate_key(keys_dir, max_token_lifetime_s=3600, now=api.clock.now())
        reload_keys(api)
        assert api.services.keys.signing_key().kid != old_kid
        assert verdict(await api.verify(museum, token=proof["token"])) == ("valid", None)
        rotated = await api.verify(museum, code=proof["code"])
        assert verdict(rotated) == ("valid", None)
        assert rotated["holder"] == {"name": "J. PEETERS"}

        # withdrawn (it leaked): the token and the code say the same, and nothing about whom
        retire_key(keys_dir, old_kid, now=api.clock.now())
        reload_keys(api)
        assert verdict(await api.verify(museum, token=proof["token"])) == ("invalid", "unknown_key")
        withdrawn = await api.verify(museum, code=proof["code"])
        assert verdict(withdrawn) == ("invalid", "unknown_key")
        assert withdrawn["holder"] is None and withdrawn["entitlement"] is None

        # a proof signed by the new key is untouched
        fresh = await granted_proof(api)
        assert verdict(await api.verify(museum, code=fresh["code"])) == ("valid", None)


# -- item 4: an expired code says so, for a day ------------------------------------------
async def test_expired_code_answers_expired_for_the_hold_then_unknown(settings: Settings) -> None:
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        lifetime = api.settings.default_proof_lifetime_s

        api.clock.advance(lifetime - 1)
        assert verdict(await api.verify(museum, code=proof["code"])) == ("valid", None)
        api.clock.advance(1)  # the proof's exp: the service's own clock, no leeway
        expired = await api.verify(museum, code=proof["code"])
        assert verdict(expired) == ("invalid", "expired")
        assert expired["entitlement"]["type"] == "social_tariff"
        assert expired["valid_until"] == proof["expires_at"].replace("+00:00", "Z")
        # a guess that hits one of the day's expired codes learns nobody's name
        assert expired["holder"] is None and expired["attributes"] is None

        api.clock.advance(CODE_HOLD_S - 1)
        assert verdict(await api.verify(museum, code=proof["code"])) == ("invalid", "expired")
        api.clock.advance(1)
        assert verdict(await api.verify(museum, code=proof["code"])) == ("invalid", "unknown_code")


async def test_expired_codes_do_not_count_as_guesses(settings: Settings) -> None:
    """An expired code was found: it does not use up the verifier's guess limit."""
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        api.clock.advance(api.settings.default_proof_lifetime_s)
        for _ in range(api.settings.lookup_failures_per_window + 5):
            assert (await api.verify(museum, code=proof["code"]))["reason"] == "expired"
        assert (await api.verify(museum, code=unknown_codes(1)[0]))["reason"] == "unknown_code"


# -- item 6: the guess limit holds under concurrency, across workers ---------------------
def unknown_codes(count: int) -> list[str]:
    return [new_code(lambda n, i=i: (i * 7_919_111 + 13) % n) for i in range(count)]


def limited_count(metrics: str, kind: str) -> int:
    found = re.search(
        rf'^statuspass_lookups_rate_limited_total\{{kind="{kind}"\}} (\S+)$', metrics, re.M
    )
    return int(float(found.group(1))) if found else 0


@pytest.mark.parametrize("kind", ["code", "card"])
async def test_guess_limit_holds_for_concurrent_wrong_numbers_on_two_workers(
    settings: Settings, kind: str
) -> None:
    clock = FrozenClock()
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(worker(settings, clock))
        two = await stack.enter_async_context(worker(settings, clock))
        types = ["social_tariff"] if kind == "code" else ["parking_card"]
        key = await one.client("verifier", types, name="Walker")
        limit = settings.lookup_failures_per_window
        attempts = 300
        if kind == "code":
            path, bodies = "/v1/verify", [{"code": c} for c in unknown_codes(attempts)]
        else:
            path = "/v1/parking-cards/check"
            bodies = [{"card_number": f"{9_000_000_000 + i}"} for i in range(attempts)]
        before = limited_count((await one.http.get("/metrics")).text, kind)

        answers: list[httpx.Response] = await asyncio.gather(
            *(
                (one if i % 2 else two).http.post(path, headers=auth(key), json=body)
                for i, body in enumerate(bodies)
            )
        )

        statuses = [r.status_code for r in answers]
        answered = [r.json()["reason"] for r in answers if r.status_code == 200]
        refused = [r for r in answers if r.status_code == 429]
        assert len(answered) + len(refused) == attempts, statuses
        assert len(answered) == limit
        assert set(answered) == {"unknown_code" if kind == "code" else "unknown_card"}
        for r in refused:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert 1 <= int(r.headers["retry-after"]) <= settings.lookup_window_s
        after = limited_count((await one.http.get("/metrics")).text, kind)
        assert after - before == len(refused)  # both workers count in this one process
        # the audit: one record for the burst, naming the verifier
        records = [r async for r in one.services.store.iter_audit()]
        limited = [r.event for r in records if r.event.action == "rate_limited"]
        assert len(limited) == 1
        assert limited[0].org == "Walker" and limited[0].result == "refused"


async def test_found_codes_give_their_place_back(settings: Settings) -> None:
    """Only unknown codes count: a busy verifier with more valid codes in flight at once
    than the limit has places is slowed at most, never refused, and keeps the whole
    allowance of unknown ones."""
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        limit = api.settings.lookup_failures_per_window
        valid = await asyncio.gather(
            *(api.verify(museum, code=proof["code"]) for _ in range(limit + 20))
        )
        assert {a["result"] for a in valid} == {"valid"}
        for code in unknown_codes(limit):
            assert (await api.verify(museum, code=code))["reason"] == "unknown_code"
        r = await api.http.post("/v1/verify", headers=auth(museum), json={"code": proof["code"]})
        assert r.status_code == 429  # the allowance is spent: even a good code waits


async def test_credentials_of_one_organisation_share_its_allowance(settings: Settings) -> None:
    """One credential per counter must not multiply the organisation's guesses."""
    async with worker(settings, FrozenClock()) as api:
        store, registry, now = api.services.store, api.services.registry, api.clock.now()
        museum, first = await client_ops.create_client(
            store, registry, name="Museum", role="verifier", types=["social_tariff"], now=now
        )
        _, second = await client_ops.add_credential(
            store, registry, museum.id, label="Counter 2", now=now
        )
        limit = api.settings.lookup_failures_per_window
        codes = unknown_codes(limit + 1)
        for i, code in enumerate(codes[:limit]):
            key = first if i % 2 else second
            assert (await api.verify(key, code=code))["reason"] == "unknown_code"
        for key in (first, second):
            r = await api.http.post("/v1/verify", headers=auth(key), json={"code": codes[-1]})
            assert r.status_code == 429
        other = await api.client("verifier", ["social_tariff"], name="Another museum")
        assert (await api.verify(other, code=codes[-1]))["reason"] == "unknown_code"
