"""Online verification as a counter employee and a police officer see it."""

from __future__ import annotations

import base64
import json

from app.tokens import PROOF_TYP, SigningKey, new_code, sign
from tests.integration.api.conftest import Api, auth

HOLDER_KEYS = {"holder", "entitlement", "attributes", "valid_until"}


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["nam"] = "X. SOMEONE"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


async def _granted_proof(api: Api, source: str, **body: object) -> tuple[str, dict[str, object]]:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    return nrn, await api.proof(nrn, qr=[], **body)


async def test_valid_then_revoked_at_once(api: Api, source: str, museum: str) -> None:
    nrn, proof = await _granted_proof(api, source)
    r = await api.verify(museum, token=proof["token"])
    assert r["result"] == "valid" and r["reason"] is None
    assert r["holder"] == {"name": "J. PEETERS"}
    assert r["entitlement"]["type"] == "social_tariff"
    assert r["revocation_checked"] == "online" and r["verification_id"]
    await api.http.post(
        "/v1/entitlements/social_tariff/revoke",
        headers=auth(source),
        json={"nrn": nrn, "reason": "deceased"},
    )
    r = await api.verify(museum, token=proof["token"])
    assert (r["result"], r["reason"]) == ("invalid", "revoked")
    assert "deceased" not in json.dumps(r)  # why is nobody's business
    assert r["holder"] == {"name": "J. PEETERS"}  # a genuine token changed status


async def test_suspended_and_reinstated(api: Api, source: str, museum: str) -> None:
    nrn, proof = await _granted_proof(api, source)
    await api.http.post(
        "/v1/entitlements/social_tariff/suspend", headers=auth(source), json={"nrn": nrn}
    )
    assert (await api.verify(museum, token=proof["token"]))["reason"] == "suspended"
    await api.http.post(
        "/v1/entitlements/social_tariff/reinstate", headers=auth(source), json={"nrn": nrn}
    )
    assert (await api.verify(museum, token=proof["token"]))["result"] == "valid"


async def test_expired_and_not_yet_valid(api: Api, source: str, museum: str) -> None:
    _, proof = await _granted_proof(api, source)
    api.clock.advance(300 + api.settings.clock_skew_s + 1)
    r = await api.verify(museum, token=proof["token"])
    assert (r["result"], r["reason"]) == ("invalid", "expired")
    assert r["holder"] == {"name": "J. PEETERS"}
    api.clock.advance(-3600)
    r = await api.verify(museum, token=proof["token"])
    assert (r["result"], r["reason"]) == ("invalid", "not_yet_valid")


async def test_no_holder_data_for_forgeries_and_foreign_scopes(
    api: Api, source: str, museum: str
) -> None:
    _, proof = await _granted_proof(api, source)
    r = await api.verify(museum, token=_tamper(proof["token"]))
    assert (r["result"], r["reason"]) == ("invalid", "bad_signature")
    assert not HOLDER_KEYS & {k for k, v in r.items() if v}
    other = SigningKey.generate()
    foreign = sign({"iss": api.settings.issuer, "iat": 1, "exp": 2}, other, typ=PROOF_TYP)
    r = await api.verify(museum, token=foreign)
    assert (r["result"], r["reason"]) == ("invalid", "unknown_key")
    r = await api.verify(museum, token="not-a-token")
    assert (r["result"], r["reason"]) == ("invalid", "malformed")
    utility = await api.client("verifier", ["living_wage"], name="Water utility")
    r = await api.verify(utility, token=proof["token"])
    assert (r["result"], r["reason"]) == ("invalid", "not_permitted")
    assert not HOLDER_KEYS & {k for k, v in r.items() if v}
    assert r.get("seen") is None


async def test_seen_counts_checks_and_organisations(api: Api, source: str, museum: str) -> None:
    _, proof = await _granted_proof(api, source)
    pool = await api.client("verifier", ["social_tariff"], name="Swimming pool")
    first = await api.verify(museum, token=proof["token"])
    assert first["seen"] == {"count": 0, "organisations": 0}
    await api.verify(museum, token=proof["token"])
    third = await api.verify(pool, token=proof["token"])
    assert third["seen"] == {"count": 2, "organisations": 1}
    fourth = await api.verify(museum, token=proof["token"])
    assert fourth["seen"] == {"count": 3, "organisations": 2}


async def test_numeric_code_with_spaces_dashes_and_typos(
    api: Api, source: str, museum: str
) -> None:
    _, proof = await _granted_proof(api, source)
    code = str(proof["code"])
    r = await api.verify(museum, code=code.replace(" ", "-"))
    assert r["result"] == "valid" and r["holder"] == {"name": "J. PEETERS"}
    digits = code.replace(" ", "")
    typo = digits[:3] + str((int(digits[3]) + 1) % 10) + digits[4:]
    resp = await api.http.post("/v1/verify", headers=auth(museum), json={"code": typo})
    assert resp.status_code == 422 and resp.json()["field"] == "code"
    resp = await api.http.post(
        "/v1/verify", headers=auth(museum), json={"code": digits[:11] + "\u0661"}
    )  # Arabic-Indic digit
    assert resp.status_code == 422
    resp = await api.http.post(
        "/v1/verify", headers=auth(museum), json={"token": proof["token"], "code": code}
    )
    assert resp.status_code == 422


async def test_unknown_codes_are_rate_limited_per_verifier(
    api: Api, source: str, museum: str
) -> None:
    limit = api.settings.lookup_failures_per_window
    unknown = [f"{n:010d}{97 - n % 97:02d}" for n in range(1, limit + 2)]
    for code in unknown[:limit]:
        assert (await api.verify(museum, code=code))["reason"] == "unknown_code"
    r = await api.http.post("/v1/verify", headers=auth(museum), json={"code": unknown[-1]})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    other = await api.client("verifier", ["social_tariff"], name="Another museum")
    assert (await api.verify(other, code=unknown[-1]))["reason"] == "unknown_code"
    api.clock.advance(api.settings.lookup_window_s)
    assert (await api.verify(museum, code=unknown[-1]))["reason"] == "unknown_code"


async def _card(api: Api, source: str, nrn: str, number: str, days: int = 700) -> None:
    # the card's validity is the entitlement's valid_until, sent once
    r = await api.grant(source, "parking_card", nrn, days=days, attributes={"card_number": number})
    assert r.status_code in (200, 201), r.text


async def _check(api: Api, key: str, number: str) -> dict[str, object]:
    r = await api.http.post(
        "/v1/parking-cards/check", headers=auth(key), json={"card_number": number}
    )
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


async def test_parking_card_check_for_the_police(api: Api, source: str, police: str) -> None:
    nrn = api.nrn()
    await _card(api, source, nrn, "4455667700")
    r = await _check(api, police, "4455 6677 00")
    assert r["result"] == "valid" and r["holder"] is None  # never who the holder is
    assert r["attributes"]["card_number"] == "4455667700"  # type: ignore[index]
    # a duplicate is printed: the old card is revoked, the new one valid
    await _card(api, source, nrn, "4455667701")
    assert (await _check(api, police, "4455667700"))["reason"] == "revoked"
    assert (await _check(api, police, "4455667701"))["result"] == "valid"
    assert (await _check(api, police, "9999999900"))["reason"] == "unknown_card"
    api.clock.advance(701 * 86400)
    assert (await _check(api, police, "4455667701"))["reason"] == "expired"


async def test_card_checks_need_the_parking_scope(api: Api, source: str, museum: str) -> None:
    await _card(api, source, api.nrn(), "1122334400")
    r = await api.http.post(
        "/v1/parking-cards/check", headers=auth(museum), json={"card_number": "1122334400"}
    )
    assert r.status_code == 403
    r = await api.http.post(
        "/v1/parking-cards/check", headers=auth(source), json={"card_number": "1122334400"}
    )
    assert r.status_code == 403
    r = await api.http.post(
        "/v1/parking-cards/check", headers=auth(museum), json={"card_number": "12ab"}
    )
    assert r.status_code == 422


async def test_citizen_sees_who_checked(api: Api, source: str, museum: str) -> None:
    nrn, proof = await _granted_proof(api, source)
    await api.verify(museum, token=proof["token"])
    await api.verify(museum, code=proof["code"])
    r = await api.http.get("/v1/me/verifications", headers=api.citizen(nrn))
    rows = r.json()["verifications"]
    assert [(v["organisation"], v["result"]) for v in rows] == [("Museum M", "valid")] * 2
    other = await api.http.get("/v1/me/verifications", headers=api.citizen(api.nrn()))
    assert other.json()["verifications"] == []


async def test_verify_needs_a_verifier_key(api: Api, source: str) -> None:
    _, proof = await _granted_proof(api, source)
    r = await api.http.post("/v1/verify", json={"token": proof["token"]})
    assert r.status_code == 401
    r = await api.http.post("/v1/verify", headers=auth(source), json={"token": proof["token"]})
    assert r.status_code == 403


def _count(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_checks_and_issuance_are_counted_in_the_metrics(
    api: Api, source: str, museum: str
) -> None:
    """What an operator graphs: checks by kind, result and reason; proofs by type."""
    valid = 'statuspass_verifications_total{kind="token",reason="",result="valid"}'
    revoked = 'statuspass_verifications_total{kind="token",reason="revoked",result="invalid"}'
    issued = 'statuspass_proofs_issued_total{type="social_tariff"}'
    before = (await api.http.get("/metrics")).text
    nrn, proof = await _granted_proof(api, source)
    await api.verify(museum, token=proof["token"])
    await api.verify(museum, token=proof["token"])
    await api.http.post(
        "/v1/entitlements/social_tariff/revoke", headers=auth(source), json={"nrn": nrn}
    )
    await api.verify(museum, token=proof["token"])
    after = (await api.http.get("/metrics")).text
    assert _count(after, valid) - _count(before, valid) == 2
    assert _count(after, revoked) - _count(before, revoked) == 1
    assert _count(after, issued) - _count(before, issued) == 1


async def test_every_verification_id_names_its_audit_record(
    api: Api, source: str, museum: str
) -> None:
    """A disputed check ("the museum's check said revoked") is found in the audit log by
    the id the verifier was given, valid or not, and the citizen sees the same id."""
    nrn, proof = await _granted_proof(api, source)
    answers = [
        await api.verify(museum, token=proof["token"]),
        await api.verify(museum, token=_tamper(proof["token"])),
        await api.verify(museum, code=new_code(lambda n: 7 % n)),  # well-formed, unknown
        await api.verify(museum, code=proof["code"]),
    ]
    ids = [a["verification_id"] for a in answers]
    assert all(ids) and len(set(ids)) == len(ids)
    audited = {
        r.event.verification_id: r.event
        async for r in api.services.store.iter_audit()
        if r.event.verification_id is not None
    }
    for answer in answers:
        event = audited[answer["verification_id"]]
        assert (event.action, event.result, event.reason) == (
            "verify",
            answer["result"],
            answer["reason"],
        )
    mine = await api.http.get("/v1/me/verifications", headers=api.citizen(nrn))
    assert {v["verification_id"] for v in mine.json()["verifications"]} == {ids[0], ids[3]}


async def test_check_answers_are_the_documented_json(
    api: Api, source: str, museum: str, police: str
) -> None:
    """The online checks send their result encoded by themselves (`app.api.edge.answer`): still
    plain JSON with a matching length, and the OpenAPI document still describes it."""
    _, proof = await _granted_proof(api, source)
    await _card(api, source, api.nrn(), "5566778800")
    schema = (await api.http.get("/schema/openapi.json")).json()
    fields = set(schema["components"]["schemas"]["VerificationResult"]["properties"])
    for path, key, body in (
        ("/v1/verify", museum, {"token": proof["token"]}),
        ("/v1/verify", museum, {"code": proof["code"]}),
        ("/v1/parking-cards/check", police, {"card_number": "5566778800"}),
    ):
        r = await api.http.post(path, headers=auth(key), json=body)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert int(r.headers["content-length"]) == len(r.content)
        answer = r.json()
        assert answer["result"] == "valid" and set(answer) <= fields
        documented = schema["paths"][path]["post"]["responses"]["200"]
        assert documented["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/VerificationResult"
        }
