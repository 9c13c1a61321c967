"""Authentic sources write entitlements; bad input is refused and changes nothing."""

from __future__ import annotations

import base64
import json

from app.api.routes.batch import CHUNK
from tests.integration.api.conftest import Api, auth


async def test_upsert_is_idempotent_and_updates(api: Api, source: str) -> None:
    nrn = api.nrn()
    first = await api.grant(source, "social_tariff", nrn)
    assert first.status_code == 201  # Created: what HTTP clients expect of a new resource
    assert first.json() == {"type": "social_tariff", "outcome": "created", "status": "valid"}
    again = await api.grant(source, "social_tariff", nrn)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    renamed = await api.grant(source, "social_tariff", nrn, family="Janssens")
    assert renamed.status_code == 200 and renamed.json()["outcome"] == "updated"
    mine = await api.http.get("/v1/me/entitlements", headers=api.citizen(nrn))
    assert [e["type"] for e in mine.json()["entitlements"]] == ["social_tariff"]


async def test_invalid_nrn_is_a_problem_and_writes_nothing(api: Api, source: str) -> None:
    nrn = api.nrn()
    bad = nrn[:-1] + str((int(nrn[-1]) + 1) % 10)
    r = await api.grant(source, "social_tariff", bad)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 422 and body["field"] == "nrn"
    assert bad not in r.text  # the number is never echoed back
    mine = await api.http.get("/v1/me/entitlements", headers=api.citizen(nrn))
    assert mine.json()["entitlements"] == []


async def test_unknown_type_and_type_outside_scope(api: Api, source: str) -> None:
    nrn = api.nrn()
    r = await api.grant(source, "free_beer", nrn)
    assert r.status_code == 404 and r.json()["type"].endswith("/unknown-type")
    r = await api.grant(source, "large_family", nrn)
    assert r.status_code == 403
    verifier = await api.client("verifier", ["social_tariff"])
    r = await api.grant(verifier, "social_tariff", nrn)
    assert r.status_code == 403


async def test_requests_without_or_with_a_bad_key_are_401(api: Api) -> None:
    body = {
        "nrn": api.nrn(),
        "holder": {"given_name": "A", "family_name": "B"},
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    }
    r = await api.http.put("/v1/entitlements/social_tariff", json=body)
    assert r.status_code == 401 and "www-authenticate" in r.headers
    r = await api.http.put("/v1/entitlements/social_tariff", json=body, headers=auth("sp_nope"))
    assert r.status_code == 401


async def test_malformed_unknown_fields_content_type_and_size(api: Api, source: str) -> None:
    url = "/v1/entitlements/social_tariff"
    headers = {**auth(source), "content-type": "application/json"}
    r = await api.http.put(url, content=b'{"nrn": ', headers=headers)
    assert r.status_code == 400 and r.json()["status"] == 400
    body = {
        "nrn": api.nrn(),
        "holder": {"given_name": "A", "family_name": "B"},
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
        "is_admin": True,
    }
    r = await api.http.put(url, json=body, headers=auth(source))
    assert r.status_code == 400 and "is_admin" in r.text
    del body["is_admin"]
    r = await api.http.put(
        url, content=json.dumps(body), headers={**auth(source), "content-type": "text/plain"}
    )
    assert r.status_code == 415
    big = {**body, "holder": {"given_name": "A" * 200_000, "family_name": "B"}}
    r = await api.http.put(url, json=big, headers=auth(source))
    assert r.status_code == 413
    assert "Traceback" not in r.text


async def test_dates_must_make_sense(api: Api, source: str) -> None:
    r = await api.http.put(
        "/v1/entitlements/social_tariff",
        headers=auth(source),
        json={
            "nrn": api.nrn(),
            "holder": {"given_name": "A", "family_name": "B"},
            "valid_from": "2027-01-01T00:00:00Z",
            "valid_until": "2026-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "valid_until"


async def test_revoke_suspend_reinstate(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    url = "/v1/entitlements/social_tariff/"
    for action, status in (("suspend", "suspended"), ("reinstate", "valid"), ("revoke", "revoked")):
        r = await api.http.post(
            url + action, headers=auth(source), json={"nrn": nrn, "reason": "test"}
        )
        assert r.status_code == 200 and r.json()["status"] == status
    r = await api.http.post(url + "revoke", headers=auth(source), json={"nrn": nrn})
    assert r.json()["outcome"] == "unchanged"
    r = await api.http.post(url + "revoke", headers=auth(source), json={"nrn": api.nrn()})
    assert r.status_code == 404
    mine = await api.http.get("/v1/me/entitlements", headers=api.citizen(nrn))
    assert mine.json()["entitlements"][0]["status"] == "revoked"
    assert mine.json()["entitlements"][0]["current"] is False


async def test_batch_gives_a_line_per_line_and_bad_lines_do_not_block(
    api: Api, source: str
) -> None:
    good = [api.nrn() for _ in range(5)]
    lines = [
        json.dumps(
            {
                "op": "upsert",
                "type": "social_tariff",
                "nrn": n,
                "id": f"row{i}",
                "holder": {"given_name": "A", "family_name": "B"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-12-31T00:00:00Z",
            }
        )
        for i, n in enumerate(good)
    ]
    lines.insert(2, "{not json")
    lines.insert(
        4,
        json.dumps(
            {
                "op": "upsert",
                "type": "social_tariff",
                "nrn": "12345678901",
                "holder": {"given_name": "A", "family_name": "B"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-01-01T00:00:00Z",
            }
        ),
    )
    lines.append(json.dumps({"op": "revoke", "type": "social_tariff", "nrn": good[0]}))
    body = ("\n".join(lines) + "\n").encode()
    r = await api.http.post(
        "/v1/entitlements:batch",
        content=body,
        headers={**auth(source), "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200
    results = [json.loads(x) for x in r.text.splitlines()]
    *per_line, summary = results
    assert [x["line"] for x in per_line] == list(range(1, len(lines) + 1))
    assert [x["ok"] for x in per_line] == [True, True, False, True, False, True, True, True]
    assert per_line[2]["error"] == "malformed"
    assert per_line[4]["error"] == "InvalidInput" and "12345678901" not in r.text
    assert per_line[-1]["outcome"] == "revoked"
    assert summary == {"summary": {"lines": 8, "ok": 6, "failed": 2, "complete": True}}
    # re-sending the same batch changes nothing
    r2 = await api.http.post(
        "/v1/entitlements:batch",
        content=body,
        headers={**auth(source), "content-type": "application/x-ndjson"},
    )
    outcomes = [json.loads(x).get("outcome") for x in r2.text.splitlines()[:-1]]
    assert set(outcomes) - {None} == {"unchanged"}


async def test_batch_needs_ndjson(api: Api, source: str) -> None:
    r = await api.http.post(
        "/v1/entitlements:batch",
        content=b"{}",
        headers={**auth(source), "content-type": "application/json"},
    )
    assert r.status_code == 415


async def test_batch_applies_lines_in_order_within_a_chunk(api: Api, source: str) -> None:
    nrn, card_holder = api.nrn(), api.nrn()

    def upsert(
        n: str,
        family: str,
        type_id: str = "social_tariff",
        attributes: dict[str, str] | None = None,
    ) -> str:
        return json.dumps(
            {
                "op": "upsert",
                "type": type_id,
                "nrn": n,
                "holder": {"given_name": "A", "family_name": family},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-12-31T00:00:00Z",
                "attributes": attributes or {},
            }
        )

    lines = [
        upsert(nrn, "First"),
        upsert(nrn, "Second"),  # same key twice: the second sees the first
        json.dumps({"op": "revoke", "type": "social_tariff", "nrn": nrn}),
        upsert(nrn, "Third"),  # an update after the revocation keeps it revoked
        upsert(
            card_holder,
            "Card",
            "parking_card",
            {"card_number": "5566778800"},  # valid until the line's valid_until
        ),
    ]
    r = await api.http.post(
        "/v1/entitlements:batch",
        content="\n".join(lines).encode(),
        headers={**auth(source), "content-type": "application/x-ndjson"},
    )
    rows = [json.loads(x) for x in r.text.splitlines()][:-1]
    assert [(x["outcome"], x["status"]) for x in rows] == [
        ("created", "valid"),
        ("updated", "valid"),
        ("revoked", "revoked"),
        ("updated", "revoked"),
        ("created", "valid"),
    ]
    mine = (await api.http.get("/v1/me/entitlements", headers=api.citizen(nrn))).json()
    assert mine["entitlements"][0]["status"] == "revoked"
    police = await api.client("verifier", ["parking_card"])
    check = await api.http.post(
        "/v1/parking-cards/check", headers=auth(police), json={"card_number": "5566778800"}
    )
    assert check.json()["result"] == "valid"


async def test_batch_keeps_the_order_of_one_entitlement_across_chunks(
    api: Api, source: str
) -> None:
    """Chunks with disjoint keys are applied side by side; one that touches a key still in
    flight waits for it. Here one entitlement is created in the first chunk, updated in
    the second (its NRN written with separators) and revoked in the third, each among
    hundreds of other lines."""
    nrn = api.nrn()
    dotted = f"{nrn[:2]}.{nrn[2:4]}.{nrn[4:6]}-{nrn[6:9]}.{nrn[9:]}"

    def upsert(n: str, family: str) -> str:
        return json.dumps(
            {
                "op": "upsert",
                "type": "social_tariff",
                "nrn": n,
                "holder": {"given_name": "A", "family_name": family},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-12-31T00:00:00Z",
            }
        )

    lines = [upsert(api.nrn(), f"Other{i}") for i in range(1400)]
    lines[3] = upsert(nrn, "First")
    lines[2 * CHUNK - 1] = upsert(dotted, "Second")  # last of its chunk, in a bulk write
    lines[2 * CHUNK] = json.dumps({"op": "revoke", "type": "social_tariff", "nrn": nrn})
    r = await api.http.post(
        "/v1/entitlements:batch",
        content="\n".join(lines).encode(),
        headers={**auth(source), "content-type": "application/x-ndjson"},
    )
    rows = [json.loads(x) for x in r.text.splitlines()]
    assert rows[-1]["summary"] == {"lines": 1400, "ok": 1400, "failed": 0, "complete": True}
    assert [x["line"] for x in rows[:-1]] == list(range(1, 1401))
    assert [(rows[i]["outcome"], rows[i]["status"]) for i in (3, 2 * CHUNK - 1, 2 * CHUNK)] == [
        ("created", "valid"),
        ("updated", "valid"),
        ("revoked", "revoked"),
    ]
    mine = (await api.http.get("/v1/me/entitlements", headers=api.citizen(nrn))).json()
    assert [e["status"] for e in mine["entitlements"]] == ["revoked"]
    # the update of the second chunk is the one that stayed
    back = await api.http.post(
        "/v1/entitlements/social_tariff/reinstate", headers=auth(source), json={"nrn": nrn}
    )
    assert back.json()["status"] == "valid"
    token = (await api.proof(nrn))["token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["nam"] == "A. SECOND"


async def test_upsert_documents_created_and_updated(api: Api) -> None:
    """The OpenAPI document says what a PUT answers: 201 for a new entitlement, 200 for
    an update or a re-send, and how dates and a card's validity are sent."""
    schema = (await api.http.get("/schema/openapi.json")).json()
    put = schema["paths"]["/v1/entitlements/{type_id}"]["put"]
    body = {"$ref": "#/components/schemas/WriteResponse"}
    for status in ("200", "201"):
        assert put["responses"][status]["content"]["application/json"]["schema"] == body
    assert "201 Created" in put["description"] and "card_valid_until" in put["description"]
    fields = schema["components"]["schemas"]["UpsertRequest"]["properties"]
    assert fields["valid_until"]["format"] == "date-time"


def test_batch_line_codes_are_the_wire_names_of_every_domain_error() -> None:
    # the stream's `error` codes are a wire format: one per domain error, as first sent
    from app.api.problems import line_error
    from app.errors import (
        Conflict,
        Forbidden,
        InvalidInput,
        NotFound,
        RateLimited,
        Unauthenticated,
        UnknownType,
    )

    errors = [
        InvalidInput("x"),
        UnknownType("x"),
        NotFound("x"),
        Conflict("x"),
        Unauthenticated("x"),
        Forbidden("x"),
        RateLimited("x", retry_after=1),
    ]
    assert [line_error(e) for e in errors] == [type(e).__name__ for e in errors]
