"""One regression test per JWT attack class (after pyjwt's tests/test_advisory.py).

Each test builds the attack against `decode_verified` / `verify_offline` with a fresh
test key and asserts the exact reason it is refused with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import get_default_algorithms

from app.domain.registry import load_registry
from app.tokens import (
    PROOF_TYP,
    JoseError,
    KeySet,
    SigningKey,
    StatusList,
    decode_verified,
    jose,
    sign,
    sign_status_list,
    verify_offline,
)
from app.tokens._codec import b64url_encode

TYP = PROOF_TYP
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
URI = "https://statuspass.example.org/v1/status-lists/1"
KEY = SigningKey.generate()
KEYS = {KEY.kid: KEY.public()}
CLAIMS = {
    "iss": "https://statuspass.example.org",
    "iat": NOW_S - 30,
    "exp": NOW_S + 270,
    "jti": "YWR2aXNvcnktanRpLTE",
    "ent": "social_tariff",
    "nam": "J. PEETERS",
    "status": {"status_list": {"idx": 1, "uri": URI}},
}
HEADER = {"alg": "ES256", "kid": KEY.kid, "typ": TYP}


def b64json(obj: Any) -> str:
    return b64url_encode(json.dumps(obj).encode())


def forge(header: dict[str, Any], claims: dict[str, Any], key: SigningKey | None = KEY) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    sig = (
        b""
        if key is None
        else get_default_algorithms()[key.alg].sign(signing_input.encode(), key.private_key)
    )
    return f"{signing_input}.{b64url_encode(sig)}"


def reason(token: str, typ: str = TYP) -> str:
    with pytest.raises(JoseError) as err:
        decode_verified(token, KEYS, typ=typ)
    return err.value.reason


def offline(token: str) -> tuple[str, str | None]:
    packed = bytes(1024)
    sl = StatusList(uri=URI, iat=NOW_S - 60, exp=NOW_S + 3600, ttl=600, packed=packed)
    r = verify_offline(
        token,
        jwks=KeySet(keys=KEYS, fetched_at=NOW, max_age_s=3600),
        status_lists={URI: sl},
        now=NOW,
        registry=load_registry(),
    )
    return r.result, r.reason


def test_baseline_is_valid() -> None:
    assert offline(sign(CLAIMS, KEY, typ=TYP)) == ("valid", None)


def test_algorithm_confusion_hs256_keyed_with_the_public_key() -> None:
    header = {**HEADER, "alg": "HS256"}
    signing_input = f"{b64json(header)}.{b64json(CLAIMS)}"
    for secret in (
        KEY.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        json.dumps(KEY.public().to_jwk()).encode(),
    ):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert reason(f"{signing_input}.{b64url_encode(mac)}") == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "RS256", "ES384", "EdDSA", "PS256"])
def test_alg_none_and_other_algorithms(alg: str) -> None:
    assert reason(forge({**HEADER, "alg": alg}, CLAIMS, None)) == "bad_signature"
    assert reason(forge({**HEADER, "alg": alg}, CLAIMS)) == "bad_signature"


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
def test_key_injection_headers_are_ignored(member: str) -> None:
    attacker = SigningKey.generate()
    value: Any = {
        "jwk": attacker.public().to_jwk(),
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIBattacker"],
    }[member]
    # the attacker signs with their key and points at it; our kid, or theirs
    assert reason(forge({**HEADER, member: value}, CLAIMS, attacker)) == "bad_signature"
    assert (
        reason(forge({**HEADER, "kid": attacker.kid, member: value}, CLAIMS, attacker))
        == "unknown_key"
    )
    # and a genuine token carrying the member verifies with our key, the member unused
    assert decode_verified(forge({**HEADER, member: value}, CLAIMS), KEYS, typ=TYP)[1] == CLAIMS


@pytest.mark.parametrize("kid", ["nowhere", "", None, 7, ["x"], KEY.kid.upper() + "x"])
def test_kid_pointing_nowhere(kid: Any) -> None:
    header = {**HEADER, "kid": kid} if kid is not None else {"alg": "ES256", "typ": TYP}
    assert reason(forge(header, CLAIMS)) == "unknown_key"


def test_signature_stripping() -> None:
    h, p, _ = sign(CLAIMS, KEY, typ=TYP).split(".")
    assert reason(f"{h}.{p}.") == "bad_signature"
    assert reason(f"{h}.{p}") == "malformed"


def test_payload_tampering() -> None:
    h, _, s = sign(CLAIMS, KEY, typ=TYP).split(".")
    assert reason(f"{h}.{b64json({**CLAIMS, 'ent': 'living_wage'})}.{s}") == "bad_signature"
    assert reason(f"{h}.{b64json({**CLAIMS, 'exp': NOW_S + 10**6})}.{s}") == "bad_signature"


def test_typ_confusion() -> None:
    status_list = sign_status_list(bytes(8), uri=URI, key=KEY, iat=NOW_S, exp=NOW_S + 60, ttl=60)
    assert reason(status_list) == "malformed"
    id_token = sign({**CLAIMS, "aud": "client", "sub": "x"}, KEY, typ="JWT")
    assert reason(id_token) == "malformed"
    # and the other way round: a proof is not a status list
    assert reason(sign(CLAIMS, KEY, typ=TYP), typ="statuslist+jwt") == "malformed"


def test_crit_is_refused() -> None:
    assert reason(forge({**HEADER, "crit": ["b64"], "b64": False}, CLAIMS)) == "malformed"
    assert reason(forge({**HEADER, "crit": []}, CLAIMS)) == "malformed"


def test_exp_has_no_leeway_iat_keeps_it() -> None:
    """A proof read `valid` up to 60 s after its `exp`, with a `valid_until` in the past
    (the clock-skew leeway stretched its end). The leeway tolerates an issuer clock a
    little ahead (`iat`); a proof ends at its `exp`, offline as online."""

    def at(iat: int, exp: int) -> tuple[str, str | None]:
        return offline(sign({**CLAIMS, "iat": iat, "exp": exp}, KEY, typ=TYP))

    assert at(NOW_S - 400, NOW_S + 1) == ("valid", None)  # its last second
    assert at(NOW_S - 400, NOW_S) == ("invalid", "expired")  # ends exactly now
    assert at(NOW_S - 400, NOW_S - 21) == ("invalid", "expired")  # inside the old leeway
    assert at(NOW_S + 60, NOW_S + 400) == ("valid", None)  # iat exactly at the leeway
    assert at(NOW_S + 61, NOW_S + 400) == ("undetermined", "check_clock")


def test_oversized_token_refused_before_any_crypto(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def spy(key: Any, msg: bytes, sig: bytes) -> bool:
        calls.append(msg)
        return False

    # every signature check of decode_verified goes through this one function
    monkeypatch.setattr(jose, "_signature_holds", spy)
    h, p, s = sign(CLAIMS, KEY, typ=TYP).split(".")
    oversized = f"{h}.{p}{'A' * 5000}.{s}"
    with pytest.raises(JoseError) as err:
        decode_verified(oversized, KEYS, typ=TYP)
    assert err.value.reason == "malformed" and calls == []
    with pytest.raises(JoseError):
        decode_verified(f"{h}.{p}.{s}", KEYS, typ=TYP)
    assert len(calls) == 1  # the spy is live: a normal token does reach it


def test_non_canonical_base64url() -> None:
    h, p, s = sign(CLAIMS, KEY, typ=TYP).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    flipped = s[:-1] + alphabet[alphabet.index(s[-1]) ^ 1]  # same bytes, unused bit set
    for token in (
        f"{h}.{p}.{flipped}",
        f"{h}=.{p}.{s}",
        f"{h}.{p}.{s}==",
        f"{h}.{p}+.{s}",
        f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}x",
    ):
        assert reason(token) == "malformed"


def test_duplicate_claims_are_refused() -> None:
    payload = b64url_encode(b'{"exp":1,"exp":9999999999}')
    signing_input = f"{b64json(HEADER)}.{payload}"
    sig = get_default_algorithms()["ES256"].sign(signing_input.encode(), KEY.private_key)
    assert reason(f"{signing_input}.{b64url_encode(sig)}") == "malformed"


def test_signature_shapes_other_than_raw_r_s_are_refused() -> None:
    """cryptography is called directly: only a 64-byte r||s that verifies is accepted."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    h, p, s = sign(CLAIMS, KEY, typ=TYP).split(".")
    raw = base64.urlsafe_b64decode(s + "==")
    r_int, s_int = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    signing_input = f"{h}.{p}".encode()
    assert isinstance(KEY.private_key, ec.EllipticCurvePrivateKey)
    der = KEY.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    assert decode_dss_signature(der)  # a valid signature, in the wrong (DER) form
    for sig in (
        raw[:63],
        raw + b"\x00",
        b"\x00" + raw,
        raw[:32],
        bytes(64),
        der,
        raw[:32] + raw[32:][::-1],
        (r_int + order).to_bytes(33, "big")[1:] + raw[32:],  # r + n wraps: not r
        raw[:32] + (s_int + order).to_bytes(33, "big")[-32:],
    ):
        assert reason(f"{h}.{p}.{b64url_encode(sig)}") == "bad_signature", sig.hex()
    # the high-s twin (r, n - s) is mathematically valid ECDSA: accepted, as before
    # (JWS does not require low-s; a proof's jti, not its signature bytes, is its id)
    twin = raw[:32] + (order - s_int).to_bytes(32, "big")
    assert decode_verified(f"{h}.{p}.{b64url_encode(twin)}", KEYS, typ=TYP)[1] == CLAIMS


def test_eddsa_signature_of_the_wrong_size_is_refused() -> None:
    key = SigningKey.generate("EdDSA")
    keys = {key.kid: key.public()}
    h, p, s = sign(CLAIMS, key, typ=TYP).split(".")
    raw = base64.urlsafe_b64decode(s + "==")
    assert decode_verified(f"{h}.{p}.{s}", keys, typ=TYP)[1] == CLAIMS
    for sig in (raw[:63], raw + b"\x00", b"", bytes(64)):
        with pytest.raises(JoseError) as err:
            decode_verified(f"{h}.{p}.{b64url_encode(sig)}", keys, typ=TYP)
        assert err.value.reason == "bad_signature"
