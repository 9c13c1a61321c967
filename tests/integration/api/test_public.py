"""What anyone may read: keys, issuer metadata, status lists, health."""

from __future__ import annotations

from app.tokens import get_status, parse_jwks, parse_status_list
from tests.integration.api.conftest import ISSUER, Api, auth


async def test_jwks_has_public_parts_only(api: Api) -> None:
    r = await api.http.get("/.well-known/jwks.json")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert len(keys) == 1
    assert {"kid", "alg", "use", "kty", "crv", "x", "y"} == set(keys[0])
    assert keys[0]["use"] == "sig" and keys[0]["alg"] == "ES256" and "d" not in keys[0]
    again = await api.http.get(
        "/.well-known/jwks.json", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


async def test_issuer_metadata_lists_types_with_labels(api: Api) -> None:
    doc = (await api.http.get("/.well-known/statuspass")).json()
    assert doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    types = {t["id"]: t for t in doc["entitlement_types"]}
    assert {
        "social_tariff",
        "increased_reimbursement",
        "living_wage",
        "income_guarantee_elderly",
        "disability_recognition",
        "large_family",
        "parking_card",
    } <= set(types)
    assert set(types["social_tariff"]["labels"]) == {"nl", "fr", "de", "en"}
    assert types["parking_card"]["disclosed_claims"] == ["card_number", "card_valid_until"]
    assert types["social_tariff"]["disclosed_claims"] == ["nam"]


async def test_status_list_is_signed_cached_and_reflects_revocation(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    proof = await api.proof(nrn, qr=[])
    jwks = parse_jwks((await api.http.get("/.well-known/jwks.json")).content)
    uri = f"{ISSUER}/v1/status-lists/1"
    r = await api.http.get("/v1/status-lists/1")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/statuslist+jwt"
    assert "max-age=" in r.headers["cache-control"]
    sl = parse_status_list(r.text, jwks)
    assert sl.uri == uri and sl.ttl == api.settings.status_list_ttl_s
    assert len(sl.packed) * 4 >= 1 << 20  # herd privacy: 2**20 entries at least
    idx = _idx(proof["token"])
    assert get_status(sl.packed, idx) == 0
    same = await api.http.get("/v1/status-lists/1", headers={"If-None-Match": r.headers["etag"]})
    assert same.status_code == 304
    await api.http.post(
        "/v1/entitlements/social_tariff/revoke", headers=auth(source), json={"nrn": nrn}
    )
    api.clock.advance(api.settings.status_list_ttl_s)  # within ttl, the list says so
    fresh = await api.http.get("/v1/status-lists/1", headers={"If-None-Match": r.headers["etag"]})
    assert fresh.status_code == 200
    assert get_status(parse_status_list(fresh.text, jwks).packed, idx) == 1
    assert (await api.http.get("/v1/status-lists/999")).status_code == 404
    assert (await api.http.get("/v1/status-lists/..%2Fx")).status_code == 404


def _idx(token: str) -> int:
    import base64
    import json

    body = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return int(claims["status"]["status_list"]["idx"])


async def test_health_ready_metrics_schema(api: Api) -> None:
    assert (await api.http.get("/health")).json() == {"status": "ok"}
    assert (await api.http.get("/ready")).json() == {"status": "ready"}
    await api.http.get("/v1/status-lists/999999")  # a 404 of a known route
    await api.http.get("/no/such/route")
    metrics = await api.http.get("/metrics")
    assert metrics.status_code == 200 and "statuspass_requests_total" in metrics.text
    # counted by route template (never the raw path) and status
    text = metrics.text
    assert 'path="/health",status_code="200"' in text
    assert 'path="/v1/status-lists/{list_id}",status_code="404"' in text
    assert 'path="unmatched",status_code="404"' in text
    assert "/v1/status-lists/999999" not in text and "/no/such/route" not in text
    assert "statuspass_verifications_total" in metrics.text
    schema = (await api.http.get("/schema/openapi.json")).json()
    assert "/v1/verify" in schema["paths"] and "/v1/me/proofs" in schema["paths"]
    ui = await api.http.get("/schema")
    assert ui.status_code == 200 and "<html" in ui.text.lower()


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    r = await api.http.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await api.http.delete("/v1/verify")
    assert r.status_code == 405 and r.json()["status"] == 405


async def test_the_index_names_every_published_list(api: Api, source: str) -> None:
    empty = await api.http.get("/v1/status-lists")
    assert empty.status_code == 200 and empty.json() == {"status_lists": []}
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    r = await api.http.get("/v1/status-lists")
    uris = r.json()["status_lists"]
    assert uris == [f"{ISSUER}/v1/status-lists/1"]
    assert r.headers["cache-control"].startswith("public, max-age=")
    for uri in uris:
        listed = await api.http.get(uri.removeprefix(ISSUER))
        keys = parse_jwks((await api.http.get("/.well-known/jwks.json")).text)
        assert parse_status_list(listed.text, keys).uri == uri
