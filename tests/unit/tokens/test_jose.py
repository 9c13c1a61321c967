from __future__ import annotations

import json
from typing import get_args

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from app.tokens import (
    JoseError,
    PublicKey,
    SigningKey,
    decode_verified,
    jwks_document,
    kid_for,
    parse_jwks,
    sign,
)
from app.tokens._codec import b64url_decode, b64url_encode
from app.tokens.jwk import Alg

ALGS = get_args(Alg)


@pytest.mark.parametrize("alg", ALGS)
def test_round_trip(alg: Alg) -> None:
    key = SigningKey.generate(alg)
    token = sign({"a": 1, "b": "x"}, key, typ="statuspass+jwt")
    header, claims = decode_verified(token, {key.kid: key.public()}, typ="statuspass+jwt")
    assert list(header) == ["alg", "kid", "typ"]
    assert header == {"alg": alg, "kid": key.kid, "typ": "statuspass+jwt"}
    assert claims == {"a": 1, "b": "x"}
    # compact JSON: no spaces anywhere
    assert b" " not in b64url_decode(token.split(".")[0])
    assert b" " not in b64url_decode(token.split(".")[1])


def test_es256_signature_is_raw_64_bytes() -> None:
    key = SigningKey.generate("ES256")
    assert len(b64url_decode(sign({}, key, typ="t").split(".")[2])) == 64


@pytest.mark.parametrize("alg", ALGS)
def test_jwks_round_trip_has_public_members_only(alg: Alg) -> None:
    keys = [SigningKey.generate(alg).public() for _ in range(2)]
    doc = jwks_document(keys)
    for jwk in doc["keys"]:
        assert "d" not in jwk
        assert jwk["use"] == "sig" and jwk["alg"] == alg
    parsed = parse_jwks(json.dumps(doc))
    assert set(parsed) == {k.kid for k in keys}
    assert parsed[keys[0].kid].to_jwk() == keys[0].to_jwk()


def test_kid_is_the_short_rfc7638_thumbprint() -> None:
    # RFC 7638 section 3.1 example is RSA; check the construction on an EC key instead
    key = SigningKey.generate().public()
    jwk = key.to_jwk()
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    import hashlib

    assert key.kid == b64url_encode(hashlib.sha256(canonical.encode()).digest())[:8]
    assert kid_for(key.key) == key.kid and len(key.kid) == 8


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: j.update(d="AAAA"),
        lambda j: j.update(kty="RSA"),
        lambda j: j.update(crv="P-384"),
        lambda j: j.update(alg="EdDSA"),
        lambda j: j.update(alg="HS256"),
        lambda j: j.update(use="enc"),
        lambda j: j.update(x=j["y"]),  # not a point on the curve
        lambda j: j.pop("y"),
        lambda j: j.update(x=j["x"] + "="),
    ],
)
def test_from_jwk_rejects_bad_keys(mutate) -> None:
    jwk = dict(SigningKey.generate("ES256").public().to_jwk())
    mutate(jwk)
    with pytest.raises(JoseError) as err:
        PublicKey.from_jwk(jwk)
    assert err.value.reason == "malformed"


def test_parse_jwks_rejects_duplicate_kids_and_junk() -> None:
    key = SigningKey.generate().public()
    for doc in ({"keys": [key.to_jwk(), key.to_jwk()]}, {"keys": "x"}, "[]", b"{", {"keys": [1]}):
        with pytest.raises(JoseError):
            parse_jwks(doc)


def test_other_curves_are_refused() -> None:
    with pytest.raises(JoseError):
        SigningKey.from_private_key(ec.generate_private_key(ec.SECP384R1()))


def test_json_duplicate_members_are_malformed() -> None:
    key = SigningKey.generate()
    header = b64url_encode(b'{"alg":"ES256","kid":"%s","typ":"t","typ":"t"}' % key.kid.encode())
    token = f"{header}.{b64url_encode(b'{}')}.AAAA"
    with pytest.raises(JoseError) as err:
        decode_verified(token, {key.kid: key.public()}, typ="t")
    assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    "token", ["", "a.b", "a.b.c.d", ".e30.", "e30..", "e30.e30", "e30.e30.e30.e30"]
)
def test_structure(token: str) -> None:
    with pytest.raises(JoseError) as err:
        decode_verified(token, {}, typ="t")
    assert err.value.reason == "malformed"


def test_bytes_tokens_and_case_insensitive_typ() -> None:
    key = SigningKey.generate()
    token = sign({"x": 1}, key, typ="statuspass+jwt")
    assert decode_verified(token.encode(), {key.kid: key.public()}, typ="StatusPass+JWT")[1] == {
        "x": 1
    }


def test_memoised_header_is_a_fresh_dict_each_time() -> None:
    from app.tokens import jose

    key = SigningKey.generate()
    keys = {key.kid: key.public()}
    token = sign({"a": 1}, key, typ="t+jwt")
    header, _ = decode_verified(token, keys, typ="t+jwt")
    header["kid"] = "tampered"
    header["extra"] = "x"
    again, _ = decode_verified(token, keys, typ="t+jwt")
    assert again == {"alg": "ES256", "kid": key.kid, "typ": "t+jwt"}
    assert token.split(".")[0] in jose._HEADERS
    # nested or long headers are parsed every time, never memoised
    for extra in ({"x5c": ["AAAA"]}, {"pad": "p" * 300}):
        segment = b64url_encode(
            json.dumps({"alg": "ES256", "kid": key.kid, "typ": "t", **extra}).encode()
        )
        assert jose._parse_header(segment)["kid"] == key.kid
        assert segment not in jose._HEADERS


def _dss(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


_HALVES = [bytes(32), b"\0" * 31 + b"\x01", b"\0" * 31 + b"\x80", b"\x7f" + b"\xff" * 31]
_HALVES += [b"\x80" + bytes(31), b"\xff" * 32, b"\0\x80" + b"\x01" * 30, b"\0\x7f" + b"\x01" * 30]


@pytest.mark.parametrize("r", _HALVES)
@pytest.mark.parametrize("s", _HALVES)
def test_es256_signatures_reach_cryptography_as_its_own_der(r: bytes, s: bytes) -> None:
    from app.tokens.jose import _der_signature

    assert _der_signature(r + s) == _dss(r + s)


@given(st.binary(min_size=64, max_size=64))
def test_any_raw_es256_signature_reaches_cryptography_as_its_own_der(raw: bytes) -> None:
    from app.tokens.jose import _der_signature

    assert _der_signature(raw) == _dss(raw)


def test_es256_signatures_with_short_integers_verify() -> None:
    # r or s below 2**248 (one signature in 128) is written with fewer DER bytes;
    # 1500 signatures miss that case with a chance of 1e-5
    key = SigningKey.generate("ES256")
    keys = {key.kid: key.public()}
    short = 0
    for i in range(1500):
        token = sign({"i": i}, key, typ="t+jwt")
        raw = b64url_decode(token.split(".")[2])
        short += raw[0] == 0 or raw[32] == 0
        assert decode_verified(token, keys, typ="t+jwt")[1] == {"i": i}
    assert short
