"""Compact JWS: signing and strict verification (the keys: `app.tokens.jwk`).

PyJWT and cryptography do the cryptography; the parsing before it is ours and strict,
because every verifier of ours (online, offline, CLI) must reject the same tokens:

* the algorithm comes from the key, never from the token header, so ``none``,
  ``HS256`` keyed with the public key, and every other algorithm swap fail;
* ``jku``, ``x5u``, ``jwk`` and ``x5c`` are ignored: a token never chooses its own key;
* ``crit`` is refused: we implement no extension, so we cannot honour one;
* ``typ`` must match, so a status-list JWT or an ID token is never taken for a proof;
* the size is checked before any decoding or cryptography.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import get_default_algorithms

from app.tokens._codec import CodecError, b64url_decode, b64url_encode, json_compact, json_object
from app.tokens.errors import JoseError
from app.tokens.jwk import PublicKey, SigningKey

__all__ = ["JoseError", "decode_verified", "sign"]

# PyJWT's algorithm objects, limited to the two we support. ES256 signs into the raw
# 64-byte r||s form that JWS requires (not DER). Verification calls cryptography
# directly (`_signature_holds`): PyJWT's wrapper costs ~15% of an ES256 verify.
_ALGORITHMS = {name: get_default_algorithms()[name] for name in ("ES256", "EdDSA")}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def sign(claims: Mapping[str, Any], key: SigningKey, *, typ: str) -> str:
    """Sign claims into a compact JWS with header exactly ``{"alg","kid","typ"}``.

    Header and payload are compact JSON in insertion order: every byte counts in a QR.
    """
    header = json_compact({"alg": key.alg, "kid": key.kid, "typ": typ})
    signing_input = f"{b64url_encode(header)}.{b64url_encode(json_compact(dict(claims)))}"
    signature = _ALGORITHMS[key.alg].sign(signing_input.encode("ascii"), key.private_key)
    return f"{signing_input}.{b64url_encode(signature)}"


#: Parsed headers by their base64url text. Every proof of one signing key carries the
#: same header, so its parse is memoised: pure (same text, same result), bounded in
#: entries and in text length, and only for flat headers so a copy is a full copy.
_HEADERS: dict[str, dict[str, Any]] = {}
_HEADERS_MAX = 64
_HEADER_MAX_LEN = 256


def _parse_header(segment: str) -> dict[str, Any]:
    """The header object of a JWS (a fresh dict each time).

    Raises:
        CodecError: not canonical base64url or not a strict JSON object.
    """
    header = _HEADERS.get(segment)
    if header is None:
        header = json_object(b64url_decode(segment))
        if len(segment) <= _HEADER_MAX_LEN and all(type(v) is str for v in header.values()):
            if len(_HEADERS) >= _HEADERS_MAX:
                _HEADERS.clear()
            _HEADERS[segment] = header
    return dict(header)


def _der_integer(magnitude: bytes) -> bytes:
    """A DER INTEGER of an unsigned big-endian value of at most 32 bytes: minimal, with
    a zero byte in front when the top bit is set (DER integers are signed)."""
    digits = magnitude.lstrip(b"\0")
    if not digits or digits[0] & 0x80:
        digits = b"\0" + digits
    return b"\x02" + len(digits).to_bytes(1, "big") + digits


def _der_signature(raw: bytes) -> bytes:
    """The DER ``ECDSA-Sig-Value`` of a raw 64-byte ES256 ``r||s``: the bytes of
    `encode_dss_signature` for them (tests/unit/tokens/test_jose.py), in two thirds of
    its time with the integer conversions. At most 2 * 35 bytes: the short length form."""
    body = _der_integer(raw[:32]) + _der_integer(raw[32:])
    return b"\x30" + len(body).to_bytes(1, "big") + body


#: Concrete classes found to be `ec.EllipticCurvePublicKey`. `isinstance` against that
#: abstract class runs `ABCMeta.__instancecheck__` (a third of the ES256 fast path's own
#: cost); a set lookup of the exact class does not, and an ABC never forgets a subclass.
_EC_KEY_CLASSES: set[type] = set()


def _is_ec_key(public_key: object) -> TypeGuard[ec.EllipticCurvePublicKey]:
    if type(public_key) in _EC_KEY_CLASSES:
        return True
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        _EC_KEY_CLASSES.add(type(public_key))
        return True
    return False


def _signature_holds(key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Verify with the key's own algorithm; a signature of the wrong size never holds.

    cryptography is called directly for the keys `PublicKey.from_jwk` and `SigningKey`
    produce; anything else (a hand-built `PublicKey` whose key does not match its alg)
    goes through PyJWT as before, errors included.
    """
    public_key = key.key
    try:
        if key.alg == "ES256" and _is_ec_key(public_key) and public_key.key_size == 256:
            if len(signature) != 64:  # raw r||s, 32 bytes each
                return False
            public_key.verify(_der_signature(signature), signing_input, _ECDSA_SHA256)
        elif key.alg == "EdDSA" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, signing_input)
        else:
            return bool(_ALGORITHMS[key.alg].verify(signing_input, public_key, signature))
    except InvalidSignature:
        return False
    return True


def decode_verified(
    token: str | bytes,
    keys: Mapping[str, PublicKey],
    *,
    typ: str,
    max_len: int = 4096,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS and return its (header, claims).

    Args:
        token: the compact serialisation.
        keys: trusted keys by kid.
        typ: the required ``typ`` header (compared case-insensitively, RFC 7515 4.1.9).
        max_len: longest accepted token; checked before anything else.

    Raises:
        JoseError: with reason ``malformed``, ``unknown_key`` or ``bad_signature``.
    """
    # Size first: no decoding, JSON parsing or cryptography for an oversized input.
    if len(token) > max_len:
        raise JoseError("malformed", "token too long")
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise JoseError("malformed", "token is not ASCII") from None
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise JoseError("malformed", "not a compact JWS")
    try:
        header = _parse_header(parts[0])
        payload = b64url_decode(parts[1])
        signature = b64url_decode(parts[2])
    except CodecError as exc:
        raise JoseError("malformed", str(exc)) from exc
    token_typ = header.get("typ")
    if not isinstance(token_typ, str) or (
        token_typ != typ and token_typ.lower() != typ.lower()  # equal: the usual case
    ):
        raise JoseError("malformed", "wrong token type")
    if "crit" in header:
        raise JoseError("malformed", "critical header extensions are not supported")
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(alg, str):
        raise JoseError("malformed", "no alg")
    if not isinstance(kid, str) or kid not in keys:
        raise JoseError("unknown_key", "unknown kid")
    key = keys[kid]
    # The key decides the algorithm. A header asking for anything else (none, HS256
    # "keyed" with our public key, …) is a forgery attempt, not a parsing accident.
    if alg != key.alg:
        raise JoseError("bad_signature", "algorithm does not match the key")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not _signature_holds(key, signing_input, signature):
        raise JoseError("bad_signature", "signature does not verify")
    # Claims are parsed only once authentic: no JSON parsing of attacker data beyond
    # the header before the signature holds.
    try:
        claims = json_object(payload)
    except CodecError as exc:
        raise JoseError("malformed", f"claims: {exc}") from exc
    return header, claims
