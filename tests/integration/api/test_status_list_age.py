"""A published status list's age is the truth, and its ETag still holds across workers
(issue 19, item 18): `iat` is the signing time, not the hour it fell in."""

from __future__ import annotations

from datetime import timedelta

from app.domain.statuslists import StatusListPublisher
from app.tokens import KeySet, parse_jwks, parse_status_list, verify_offline
from tests.integration.api.conftest import Api


def _worker(api: Api) -> StatusListPublisher:
    """Another worker's publisher over the same store and keys (its own cache)."""
    svc = api.services
    return StatusListPublisher(svc.store, api.settings, svc.keys.signing_key)


async def test_a_list_fetched_seconds_ago_is_seconds_old(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    api.clock.advance(47 * 60 + 13)  # well inside an hour: T0 is on the hour
    proof = await api.proof(nrn, qr=[])
    jwks = parse_jwks((await api.http.get("/.well-known/jwks.json")).content)
    r = await api.http.get("/v1/status-lists/1")
    fetched = api.clock.now()
    sl = parse_status_list(r.text, jwks)
    assert sl.iat == int(fetched.timestamp())
    api.clock.advance(5)
    result = verify_offline(
        proof["token"],
        jwks=KeySet(keys=jwks, fetched_at=fetched, max_age_s=3600),
        status_lists={sl.uri: sl},
        now=api.clock.now(),
        registry=api.services.registry,
    )
    assert result.result == "valid" and result.status_list_age_s == 5


async def test_workers_agree_on_the_etag_of_the_same_content(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    api.clock.advance(600)
    t = api.clock.now()
    first, second = _worker(api), _worker(api)
    a = await first.get("1", t)
    b = await second.get("1", t + timedelta(seconds=100))  # built later, elsewhere
    assert a is not None and b is not None
    assert (a.iat, b.iat) == (int(t.timestamp()), int(t.timestamp()) + 100)
    assert a.etag == b.etag and a.etag.startswith('W/"')
    # the same answer over HTTP: a 304 whichever worker answers
    r = await api.http.get("/v1/status-lists/1", headers={"If-None-Match": a.etag})
    assert r.status_code == 304
    await api.http.post(
        "/v1/entitlements/social_tariff/revoke",
        headers={"Authorization": f"Bearer {source}"},
        json={"nrn": nrn},
    )
    c = await _worker(api).get("1", t + timedelta(seconds=200))
    assert c is not None and c.etag != a.etag  # new content, new ETag


async def test_the_etag_changes_before_a_revalidated_token_expires(api: Api, source: str) -> None:
    """A verifier that revalidates with If-None-Match keeps its token on a 304: the ETag
    must change (a new token is sent) before that token's `exp`."""
    await api.grant(source, "social_tariff", api.nrn())
    worker = _worker(api)
    t = api.clock.now()
    first = await worker.get("1", t)
    assert first is not None
    exp = first.iat + api.settings.status_list_exp_s
    step = timedelta(seconds=worker.refresh_s)
    moment = t
    while True:
        moment += step
        later = await worker.get("1", moment)
        assert later is not None
        if later.etag != first.etag:
            break
        assert moment.timestamp() < exp - api.settings.status_list_ttl_s
