"""Citizens see their own rights and get proofs only of their own, current rights."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.tokens import normalize_code
from tests.integration.api.conftest import ISSUER, Api, auth


def _claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    out: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


def _header(token: str) -> dict[str, object]:
    part = token.split(".")[0]
    out: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


async def test_proof_has_the_spec_claims_and_nothing_more(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn, given="jan", family="Peeters")
    proof = await api.proof(nrn)
    header, claims = _header(proof["token"]), _claims(proof["token"])
    assert header["typ"] == "statuspass+jwt" and header["alg"] == "ES256"
    assert set(header) == {"alg", "kid", "typ"}
    assert set(claims) == {"iss", "iat", "exp", "jti", "ent", "nam", "status"}
    assert claims["iss"] == ISSUER and claims["ent"] == "social_tariff"
    assert claims["nam"] == "J. PEETERS"
    assert claims["exp"] == claims["iat"] + 300  # type: ignore[operator]
    status = claims["status"]["status_list"]  # type: ignore[index]
    assert status["uri"].startswith(f"{ISSUER}/v1/status-lists/")
    assert isinstance(status["idx"], int)
    assert len(str(claims["jti"])) >= 16  # >= 96 random bits
    assert nrn not in proof["token"] and nrn not in json.dumps(claims)
    assert proof["jti"] == claims["jti"]


async def test_numeric_code_has_check_digits_and_is_grouped(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    code = (await api.proof(nrn))["code"]
    groups = code.split(" ")
    assert [len(g) for g in groups] == [4, 4, 4]
    digits = normalize_code(code)
    assert int(digits[10:]) == 97 - int(digits[:10]) % 97


async def test_qr_png_and_svg_as_asked_png_decodes_to_the_token(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    default = await api.proof(nrn)
    assert default["qr_svg"].lstrip().startswith(("<svg", "<?xml"))
    assert default.get("qr_png_base64") is None
    both = await api.proof(nrn, qr=["svg", "png"])
    image = Image.open(io.BytesIO(base64.b64decode(both["qr_png_base64"])))
    # QR codes only, as a scanner asks: see tests/unit/tokens/test_qr.py::decode
    decoded = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [d.text for d in decoded] == [both["token"]]
    none = await api.proof(nrn, qr=[])
    assert none.get("qr_svg") is None and none.get("qr_png_base64") is None
    assert none["qr_version"] == both["qr_version"] > 0


async def test_lifetime_is_capped_by_the_type(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    long = await api.proof(nrn, lifetime_s=10_000, qr=[])
    claims = _claims(long["token"])
    assert claims["exp"] - claims["iat"] == 900  # type: ignore[operator]  # the type's cap
    short = await api.proof(nrn, lifetime_s=60, qr=[])
    claims = _claims(short["token"])
    assert claims["exp"] - claims["iat"] == 60  # type: ignore[operator]


async def test_only_own_current_rights(api: Api, source: str) -> None:
    alice, bob = api.nrn(), api.nrn()
    await api.grant(source, "social_tariff", alice)
    r = await api.http.post(
        "/v1/me/proofs", headers=api.citizen(bob), json={"type": "social_tariff"}
    )
    assert r.status_code == 404
    await api.http.post(
        "/v1/entitlements/social_tariff/suspend", headers=auth(source), json={"nrn": alice}
    )
    r = await api.http.post(
        "/v1/me/proofs", headers=api.citizen(alice), json={"type": "social_tariff"}
    )
    assert r.status_code == 409
    # a right that has ended gives no proof either
    await api.http.post(
        "/v1/entitlements/social_tariff/reinstate", headers=auth(source), json={"nrn": alice}
    )
    api.clock.advance(400 * 86400)
    r = await api.http.post(
        "/v1/me/proofs", headers=api.citizen(alice), json={"type": "social_tariff"}
    )
    assert r.status_code == 409
    r = await api.http.post("/v1/me/proofs", headers=api.citizen(alice), json={"type": "nope"})
    assert r.status_code == 404


async def test_parking_card_proof_carries_the_card_not_the_name(api: Api, source: str) -> None:
    nrn = api.nrn()
    r = await api.grant(
        source, "parking_card", nrn, days=700, attributes={"card_number": "1234567800"}
    )
    assert r.status_code == 201, r.text
    proof = await api.proof(nrn, "parking_card", qr=[])
    claims = _claims(proof["token"])
    assert "nam" not in claims and claims["card_number"] == "1234567800"
    assert proof["code"] is None  # no numeric codes for cards
    # a card's proof lives as long as the card, not minutes
    assert claims["exp"] - claims["iat"] > 600 * 86400  # type: ignore[operator]


@pytest.mark.parametrize(
    "case", ["audience", "issuer", "expired", "foreign_key", "garbage", "no_nrn", "bad_nrn"]
)
async def test_bad_id_tokens_are_401(api: Api, source: str, tmp_path: Path, case: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    now = datetime.now(UTC)
    claims = {
        "iss": api.settings.dev_idp_issuer,
        "aud": "statuspass",
        "sub": "x",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "nrn": nrn,
    }
    key = ec.generate_private_key(ec.SECP256R1())
    real_key_path = Path(api.settings.keys_dir) / "dev-idp.pem"
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    real = load_pem_private_key(real_key_path.read_bytes(), None)
    signer = real
    if case == "audience":
        claims["aud"] = "someone-else"
    elif case == "issuer":
        claims["iss"] = "https://evil.example"
    elif case == "expired":
        claims["iat"] = int((now - timedelta(hours=3)).timestamp())
        claims["exp"] = int((now - timedelta(hours=2)).timestamp())
    elif case == "foreign_key":
        signer = key
    elif case == "no_nrn":
        del claims["nrn"]
    elif case == "bad_nrn":
        claims["nrn"] = "12345678901"
    token = (
        "not.a.jwt"
        if case == "garbage"
        else jwt.encode(claims, signer, algorithm="ES256", headers={"kid": "dev-idp"})
    )  # type: ignore[arg-type]
    r = await api.http.get("/v1/me/entitlements", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.http.get("/v1/me/entitlements")
    assert r.status_code == 401


async def test_labels_follow_accept_language(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    r = await api.http.get(
        "/v1/me/entitlements", headers={**api.citizen(nrn), "Accept-Language": "fr-BE,fr;q=0.9"}
    )
    assert r.json()["entitlements"][0]["label"] == "Tarif social"
