"""Keys: JWK import and export, RFC 7638 key ids, JWKS documents, signing keys.

Only ES256 (P-256) and EdDSA (Ed25519): a key's type decides its algorithm, so a JWKS
can never make a verifier use an algorithm it did not expect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.tokens._codec import CodecError, b64url_decode, b64url_encode, json_compact, json_object
from app.tokens.errors import JoseError

__all__ = [
    "Alg",
    "PrivateKeyType",
    "PublicKey",
    "PublicKeyType",
    "SigningKey",
    "jwks_document",
    "kid_for",
    "parse_jwks",
]

Alg: TypeAlias = Literal["ES256", "EdDSA"]
PrivateKeyType: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKeyType: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# JWK members that only a private key has; a JWKS carrying one leaks a signing key.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


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
