"""One organisation, one key per counter or officer: each revoked on its own, all of them
one organisation for `seen`; and GET /v1/clients/me, which a device asks when set up."""

from __future__ import annotations

import pytest

from app.domain import clients as client_ops
from app.errors import NotFound
from tests.integration.api.conftest import Api, auth
from tests.integration.factories import T0


async def _museum_with_two_counters(api: Api) -> tuple[str, str, str]:
    """The museum's first key and the keys of counters 2 and 3."""
    first, key = await client_ops.create_client(
        api.services.store,
        api.services.registry,
        name="Museum",
        role="verifier",
        types=["social_tariff"],
        now=api.clock.now(),
        label="Counter 1",
    )
    keys = [key]
    for label in ("Counter 2", "Counter 3"):
        _, more = await client_ops.add_credential(
            api.services.store, api.services.registry, first.id, label=label, now=api.clock.now()
        )
        keys.append(more)
    return keys[0], keys[1], keys[2]


async def _proof(api: Api, source: str) -> str:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    token: str = (await api.proof(nrn, qr=[]))["token"]
    return token


async def test_checks_at_two_counters_count_as_one_organisation(api: Api, source: str) -> None:
    one, two, _ = await _museum_with_two_counters(api)
    pool = await api.client("verifier", ["social_tariff"], name="Swimming pool")
    token = await _proof(api, source)
    await api.verify(one, token=token)
    second = await api.verify(two, token=token)
    assert second["seen"] == {"count": 1, "organisations": 1}
    third = await api.verify(pool, token=token)
    assert third["seen"] == {"count": 2, "organisations": 1}
    fourth = await api.verify(two, token=token)
    assert fourth["seen"] == {"count": 3, "organisations": 2}


async def test_revoking_one_counter_leaves_the_others_working(api: Api, source: str) -> None:
    one, two, three = await _museum_with_two_counters(api)
    me = (await api.http.get("/v1/clients/me", headers=auth(two))).json()
    await client_ops.revoke_client(api.services.store, me["id"], api.clock.now())
    api.services.clients._cache.clear()  # the short key cache, not what is tested here
    token = await _proof(api, source)
    refused = await api.http.post("/v1/verify", headers=auth(two), json={"token": token})
    assert refused.status_code == 401
    for key in (one, three):
        assert (await api.verify(key, token=token))["result"] == "valid"


async def test_a_device_learns_who_its_key_is(api: Api) -> None:
    one, two, _ = await _museum_with_two_counters(api)
    first = (await api.http.get("/v1/clients/me", headers=auth(one))).json()
    second = (await api.http.get("/v1/clients/me", headers=auth(two))).json()
    assert second["name"] == "Museum" and second["label"] == "Counter 2"
    assert second["role"] == "verifier" and second["types"] == ["social_tariff"]
    assert second["org"] == first["id"] == first["org"] != second["id"]
    bad = await api.http.get("/v1/clients/me", headers=auth("sp_nope"))
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"


async def test_a_key_for_an_unknown_or_revoked_client_is_refused(api: Api) -> None:
    first, _ = await client_ops.create_client(
        api.services.store,
        api.services.registry,
        name="Police zone",
        role="verifier",
        types=["parking_card"],
        now=api.clock.now(),
    )
    await client_ops.revoke_client(api.services.store, first.id, api.clock.now())
    for client_id in (first.id, "c_unknown"):
        with pytest.raises(NotFound):
            await client_ops.add_credential(
                api.services.store, api.services.registry, client_id, label=None, now=T0
            )
