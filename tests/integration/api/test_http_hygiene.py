"""HTTP hygiene (SPEC "HTTP hygiene"), one test per defect an outside probe found:
metrics series from client input, a 500 from a public URL, caching and sniffing of
answers with personal data, and the public documents' CORS and HEAD."""

from __future__ import annotations

import random
import re
import string
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from app.api.edge.httpmetrics import METHODS
from app.api.edge.hygiene import CONTENT_SECURITY_POLICY
from tests.integration.api.conftest import Api, auth

PUBLIC = ("/.well-known/jwks.json", "/.well-known/statuspass", "/v1/status-lists/1")
_SERIES = re.compile(r"^(statuspass_request\w*)(\{[^}]*\})", re.MULTILINE)


def _series(text: str) -> set[str]:
    return {name + labels for name, labels in _SERIES.findall(text)}


def _token(rng: random.Random, least: int, most: int) -> str:
    return "".join(rng.choices(string.ascii_letters + "_-", k=rng.randint(least, most)))


async def test_client_methods_and_paths_add_no_metrics_series(api: Api) -> None:
    rng = random.Random(5)
    families = [
        lambda t: f"/{t}",
        lambda t: f"/v1/{t}/{t}",
        lambda t: f"/v1/status-lists/{t}",
        lambda t: f"/v1/entitlements/{t}",
        lambda t: f"/schema/{t}",
        lambda t: "/health",
    ]

    async def burst(each: int) -> None:
        for path_of in families:
            for _ in range(each):
                for method in (_token(rng, 40, 400).upper(), _token(rng, 3, 12).lower(), "GET"):
                    r = await api.http.request(method, path_of(_token(rng, 1, 200)))
                    assert r.status_code < 500

    await api.http.get("/metrics")
    await burst(1)  # every kind of answer once: the series that may exist
    before = _series((await api.http.get("/metrics")).text)
    await burst(20)  # 360 more requests, every method name and path new
    text = (await api.http.get("/metrics")).text
    assert _series(text) == before
    assert set(re.findall(r'method="([^"]*)"', text)) <= METHODS | {"other"}
    paths = set(re.findall(r'\bpath="([^"]*)"', text))
    assert "/v1/status-lists/{list_id}" in paths and "unmatched" in paths
    assert all(p in {"unmatched", "overloaded"} or p.startswith("/") for p in paths)


@pytest.mark.parametrize(
    "list_id",
    [
        "9223372036854775808",  # 2**63: overflowed SQLite's INTEGER, a 500
        "9223372036854775807",
        "18446744073709551616",
        "9" * 3000,
        "-1",
        "0",
        "01",
        "1e3",
        "abc",
        "%F0%9F%98%80",
        "%00",
        "1%20",
    ],
)
async def test_status_list_ids_out_of_range_are_404_problems(api: Api, list_id: str) -> None:
    r = await api.http.get(f"/v1/status-lists/{list_id}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404


async def test_unknown_status_lists_leave_nothing_behind(api: Api) -> None:
    for n in range(2, 502):
        assert (await api.http.get(f"/v1/status-lists/{n}")).status_code == 404
    # a lock per id asked for used to stay for the life of the worker
    assert len(api.services.status_lists._locks) <= 1


_HOSTILE = [
    "9223372036854775808",
    "-1",
    "x" * 5000,
    "%00",
    "%F0%9F%98%80",
    "..%2F..%2Fetc",
    "%25",
    "a%0Ab",
    "social_tariff%20",
]


async def test_no_path_parameter_value_makes_a_500(api: Api, source: str, museum: str) -> None:
    """Every route with a path parameter, every method it has, with hostile values,
    authenticated as a source and as a verifier: never a 500."""
    templates = {
        (route.path_format, method)
        for route in api.app.routes
        if isinstance(route, HTTPRoute) and "{" in route.path_format
        for method in route.methods
        if method != "OPTIONS"
    }
    assert ("/v1/status-lists/{list_id}", "GET") in templates
    assert ("/v1/entitlements/{type_id}", "PUT") in templates
    body: dict[str, Any] = {
        "nrn": api.nrn(),
        "holder": {"given_name": "Jan", "family_name": "Peeters"},
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    }
    for template, method in sorted(templates):
        for value in _HOSTILE:
            path = re.sub(r"\{[^}]+\}", value, template)
            for key in (source, museum):
                r = await api.http.request(method, path, headers=auth(key), json=body)
                assert r.status_code < 500, (method, path[:80], r.status_code, r.text[:200])


async def _answers(api: Api, source: str, museum: str, police: str) -> dict[str, httpx.Response]:
    """One answer of each kind that carries a token, a code, a name or a result."""
    nrn = api.nrn()
    card = "1234567800"
    upsert = await api.grant(source, "social_tariff", nrn)
    await api.grant(source, "parking_card", nrn, attributes={"card_number": card})
    citizen = api.citizen(nrn)
    proof = await api.http.post("/v1/me/proofs", headers=citizen, json={"type": "social_tariff"})
    token = proof.json()["token"]
    code = proof.json()["code"]
    return {
        "upsert": upsert,
        "proof": proof,
        "verify token": await api.http.post(
            "/v1/verify", headers=auth(museum), json={"token": token}
        ),
        "verify code": await api.http.post("/v1/verify", headers=auth(museum), json={"code": code}),
        "card check": await api.http.post(
            "/v1/parking-cards/check", headers=auth(police), json={"card_number": card}
        ),
        "my entitlements": await api.http.get("/v1/me/entitlements", headers=citizen),
        "my verifications": await api.http.get("/v1/me/verifications", headers=citizen),
        "revoke": await api.http.post(
            "/v1/entitlements/social_tariff/revoke", headers=auth(source), json={"nrn": nrn}
        ),
        "batch": await api.http.post(
            "/v1/entitlements:batch",
            headers={**auth(source), "content-type": "application/x-ndjson"},
            content=b'{"op": "revoke", "type": "living_wage", "nrn": "%s"}\n' % nrn.encode(),
        ),
    }


async def test_answers_with_personal_data_are_never_stored(
    api: Api, source: str, museum: str, police: str
) -> None:
    for what, r in (await _answers(api, source, museum, police)).items():
        assert r.status_code in (200, 201), (what, r.text)
        assert r.headers["cache-control"] == "no-store", what
        assert r.headers["x-content-type-options"] == "nosniff", what
        assert "access-control-allow-origin" not in r.headers, what


async def test_every_answer_says_nosniff(api: Api, source: str) -> None:
    answers = [
        await api.http.get("/health"),
        await api.http.get("/ready"),
        await api.http.get("/metrics"),
        await api.http.get("/schema"),
        await api.http.get("/schema/openapi.json"),
        await api.http.get("/schema/no-such-page"),
        await api.http.get("/no/such/route"),
        await api.http.delete("/v1/verify"),
        await api.http.post("/v1/verify", json={"code": "1"}),  # 401
        await api.http.post("/v1/verify", headers=auth(source), content=b"x"),  # 415
        await api.http.get("/v1/me/entitlements"),  # 401
        *[await api.http.get(path) for path in PUBLIC],
    ]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        if r.status_code >= 400:  # errors are for one caller: never cached
            assert r.headers["cache-control"] == "no-store", r.url


async def test_html_pages_allow_only_their_own_origin(api: Api) -> None:
    for path in ("/schema", "/schema/swagger", "/schema/no-such-page"):
        r = await api.http.get(path)
        assert r.headers["content-type"].startswith("text/html"), path
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    # nothing but the own origin (and data: images, which load nothing) anywhere
    sources = {s for value in directives.values() for s in value.split()}
    assert sources <= {"'self'", "'none'", "data:"}
    for r in (await api.http.get("/schema/openapi.json"), await api.http.get("/health")):
        assert "content-security-policy" not in r.headers


async def test_public_documents_answer_head_like_get(api: Api, source: str) -> None:
    await api.grant(source, "social_tariff", api.nrn())  # status list 1 exists
    for path in PUBLIC:
        get = await api.http.get(path)
        head = await api.http.head(path)
        assert get.status_code == head.status_code == 200, path
        assert head.content == b""
        same = ("content-type", "content-length", "etag", "cache-control")
        assert {h: head.headers[h] for h in same} == {h: get.headers[h] for h in same}, path
        again = await api.http.head(path, headers={"If-None-Match": get.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == get.headers["etag"]
    missing = await api.http.head("/v1/status-lists/999")
    assert missing.status_code == 404 and missing.content == b""


async def test_public_documents_are_readable_from_any_origin(api: Api, source: str) -> None:
    await api.grant(source, "social_tariff", api.nrn())
    origin = {"Origin": "https://verifier.example.net"}
    for path in PUBLIC:
        for r in (
            await api.http.get(path, headers=origin),
            await api.http.head(path, headers=origin),
            await api.http.get(path, headers={**origin, "If-None-Match": "nothing"}),
        ):
            assert r.headers["access-control-allow-origin"] == "*", path
            assert "ETag" in r.headers["access-control-expose-headers"]
        etag = (await api.http.get(path)).headers["etag"]
        not_modified = await api.http.get(path, headers={**origin, "If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.headers["access-control-allow-origin"] == "*"
        preflight = await api.http.options(
            path,
            headers={
                **origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "if-none-match",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "GET" in preflight.headers["access-control-allow-methods"]
        assert "if-none-match" in preflight.headers["access-control-allow-headers"].lower()
    lost = await api.http.get("/v1/status-lists/999", headers=origin)
    assert lost.status_code == 404 and lost.headers["access-control-allow-origin"] == "*"


async def test_other_endpoints_send_no_cors_headers(api: Api, museum: str) -> None:
    origin = {"Origin": "https://evil.example.net"}
    private = [
        ("POST", "/v1/verify"),
        ("POST", "/v1/parking-cards/check"),
        ("POST", "/v1/me/proofs"),
        ("GET", "/v1/me/entitlements"),
        ("GET", "/v1/me/verifications"),
        ("PUT", "/v1/entitlements/social_tariff"),
        ("POST", "/v1/entitlements/social_tariff/revoke"),
        ("POST", "/v1/entitlements:batch"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/schema"),
    ]
    for method, path in private:
        answers = [
            await api.http.request(method, path, headers={**origin, **auth(museum)}, json={}),
            await api.http.options(
                path, headers={**origin, "Access-Control-Request-Method": method}
            ),
        ]
        for r in answers:
            cors = [h for h in r.headers if h.lower().startswith("access-control-")]
            assert cors == [], (method, path, r.status_code, cors)
