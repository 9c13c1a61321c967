"""Compact JWS: keys, JWKS, signing and strict verification.

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

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import get_default_algorithms

from app.tokens._codec import CodecError, b64url_decode, b64url_encode, json_compact, json_object

__all__ = [
    "Alg",
    "JoseError",
    "PublicKey",
    "SigningKey",
    "decode_verified",
    "jwks_document",
    "kid_for",
    "parse_jwks",
    "sign",
]

Alg: TypeAlias = Literal["ES256", "EdDSA"]
PrivateKeyType: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKeyType: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# PyJWT's algorithm objects, limited to the two we support. ES256 signs into the raw
# 64-byte r||s form that JWS requires (not DER). Verification calls cryptography
# directly (`_signature_holds`): PyJWT's wrapper costs ~15% of an ES256 verify.
_ALGORITHMS = {name: get_default_algorithms()[name] for name in ("ES256", "EdDSA")}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# JWK members that only a private key has; a JWKS carrying one leaks a signing key.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JoseError(Exception):
    """A token or key that cannot be trusted; `reason` is the wire-level reason.

    Reasons: ``malformed`` (syntax, typ, crit, size), ``unknown_key`` (kid not in the
    key set), ``bad_signature`` (wrong algorithm for the key, or signature mismatch).
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


def _alg_for(key: PrivateKeyType | PublicKeyType) -> Alg:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise JoseError("malformed", f"unsupported curve {key.curve.name}")


def _thumbprint_members(key: PublicKeyType) -> dict[str, str]:
    """The RFC 7638 required members, already in lexicographic order."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    numbers = key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def kid_for(public_key: PublicKeyType) -> str:
    """Return the key id: the RFC 7638 SHA-256 thumbprint, first 8 base64url characters.

    The kid rides in every QR code, so it is kept short. 48 bits are plenty: a kid only
    selects among the handful of keys in our JWKS (collisions are refused when the set
    is parsed); it is not what makes a token authentic, the signature is.
    """
    digest = hashlib.sha256(json_compact(_thumbprint_members(public_key))).digest()
    return b64url_encode(digest)[:8]


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verification key with its id and the one algorithm it may be used with."""

    kid: str
    alg: Alg
    key: PublicKeyType

    def to_jwk(self) -> dict[str, str]:
        """Return the public JWK (never a private member)."""
        return {**_thumbprint_members(self.key), "kid": self.kid, "alg": self.alg, "use": "sig"}

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Build a key from a public JWK.

        Raises:
            JoseError: ``malformed`` for private members, an unknown kty/crv, a bad
                point, an alg that does not match the curve, or a use other than sig.
        """
        if _PRIVATE_MEMBERS & set(jwk):
            raise JoseError("malformed", "a JWKS must not hold private key members")
        kty, crv = jwk.get("kty"), jwk.get("crv")
        try:
            key: PublicKeyType
            if kty == "EC" and crv == "P-256":
                x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
                if len(x) != 32 or len(y) != 32:
                    raise ValueError("coordinate length")
                # public_key() checks that the point is on the curve
                key = ec.EllipticCurvePublicNumbers(
                    int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
                ).public_key()
            elif kty == "OKP" and crv == "Ed25519":
                key = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
            else:
                raise JoseError("malformed", f"unsupported key type {kty!r}/{crv!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise JoseError("malformed", "bad public key in JWK") from exc
        alg = _alg_for(key)
        if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
            raise JoseError("malformed", "JWK alg or use does not match the key")
        kid = jwk.get("kid", kid_for(key))
        if not isinstance(kid, str) or not kid:
            raise JoseError("malformed", "JWK kid must be a non-empty string")
        return cls(kid=kid, alg=alg, key=key)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private signing key, its id and algorithm."""

    kid: str
    alg: Alg
    private_key: PrivateKeyType

    def public(self) -> PublicKey:
        """Return the matching verification key."""
        return PublicKey(kid=self.kid, alg=self.alg, key=self.private_key.public_key())

    @classmethod
    def generate(cls, alg: Alg = "ES256") -> SigningKey:
        """Generate a fresh key; its kid is the thumbprint of its public part."""
        private_key: PrivateKeyType
        if alg == "ES256":
            private_key = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private_key = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"unsupported algorithm {alg!r}")
        return cls(kid=kid_for(private_key.public_key()), alg=alg, private_key=private_key)

    @classmethod
    def from_private_key(cls, private_key: PrivateKeyType, kid: str | None = None) -> SigningKey:
        """Wrap a loaded private key; the algorithm follows from the curve."""
        alg = _alg_for(private_key)
        return cls(kid=kid or kid_for(private_key.public_key()), alg=alg, private_key=private_key)


def sign(claims: Mapping[str, Any], key: SigningKey, *, typ: str) -> str:
    """Sign claims into a compact JWS with header exactly ``{"alg","kid","typ"}``.

    Header and payload are compact JSON in insertion order: every byte counts in a QR.
    """
    header = json_compact({"alg": key.alg, "kid": key.kid, "typ": typ})
    signing_input = f"{b64url_encode(header)}.{b64url_encode(json_compact(dict(claims)))}"
    signature = _ALGORITHMS[key.alg].sign(signing_input.encode("ascii"), key.private_key)
    return f"{signing_input}.{b64url_encode(signature)}"


def jwks_document(keys: Iterable[PublicKey]) -> dict[str, Any]:
    """Return the JWKS document ``{"keys": [...]}`` (public members only)."""
    return {"keys": [k.to_jwk() for k in keys]}


def parse_jwks(doc: bytes | str | Mapping[str, Any]) -> dict[str, PublicKey]:
    """Parse a JWKS into keys by kid.

    Raises:
        JoseError: ``malformed`` for bad JSON, a bad key or a duplicate kid.
    """
    try:
        obj = json_object(doc) if isinstance(doc, bytes | str) else doc
    except CodecError as exc:
        raise JoseError("malformed", f"JWKS: {exc}") from exc
    entries = obj.get("keys")
    if not isinstance(entries, list):
        raise JoseError("malformed", "JWKS has no keys list")
    keys: dict[str, PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise JoseError("malformed", "JWKS entry is not an object")
        key = PublicKey.from_jwk(entry)
        if key.kid in keys:
            # two keys under one kid would make key selection ambiguous
            raise JoseError("malformed", f"duplicate kid {key.kid!r}")
        keys[key.kid] = key
    return keys


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


def _signature_holds(key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Verify with the key's own algorithm; a signature of the wrong size never holds.

    cryptography is called directly for the keys `PublicKey.from_jwk` and `SigningKey`
    produce; anything else (a hand-built `PublicKey` whose key does not match its alg)
    goes through PyJWT as before, errors included.
    """
    public_key = key.key
    try:
        if (
            key.alg == "ES256"
            and isinstance(public_key, ec.EllipticCurvePublicKey)
            and public_key.key_size == 256
        ):
            if len(signature) != 64:  # raw r||s, 32 bytes each
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public_key.verify(der, signing_input, _ECDSA_SHA256)
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
    if not isinstance(token_typ, str) or token_typ.lower() != typ.lower():
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
