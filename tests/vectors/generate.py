"""Generate tokens.json: verify_offline test vectors (valid and invalid proofs).

Run from the repository root: ``python tests/vectors/generate.py``. Fresh test-only
keys each run; the file holds public JWKS only (no private key is ever written).
Every case names the inputs of `app.tokens.verify_offline` and its expected verdict.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import get_default_algorithms

from app.tokens import SigningKey, jwks_document, sign, sign_status_list
from app.tokens._codec import b64url_encode

NOW = 1748779200  # 2025-06-01T12:00:00Z
ISS = "https://statuspass.example.org"
URI = ISS + "/v1/status-lists/1"
OUT = Path(__file__).with_name("tokens.json")


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": ISS,
        "iat": NOW - 30,
        "exp": NOW + 270,
        "jti": "dmVjdG9yLWp0aS0wMDAx",
        "ent": "social_tariff",
        "nam": "J. PEETERS",
        "status": {"status_list": {"idx": 5, "uri": URI}},
    }
    base.update(overrides)
    return base


def forge(header: dict[str, Any], body: dict[str, Any], key: SigningKey | None) -> str:
    """Sign an arbitrary header (attacks need headers `sign` would never write)."""
    signing_input = (
        f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(body).encode())}"
    )
    sig = b""
    if key is not None:
        sig = get_default_algorithms()[key.alg].sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{b64url_encode(sig)}"


def hs256_with_public_key(key: SigningKey) -> str:
    pem = key.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": key.kid, "typ": "statuspass+jwt"}
    body = b64url_encode(json.dumps(claims()).encode())
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{body}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def main() -> None:
    key, eddsa, stranger = (
        SigningKey.generate("ES256"),
        SigningKey.generate("EdDSA"),
        SigningKey.generate(),
    )
    packed = bytearray(2**20 // 4)
    packed[6 // 4] |= 1 << (2 * (6 % 4))  # idx 6 revoked
    packed[7 // 4] |= 2 << (2 * (7 % 4))  # idx 7 suspended
    fresh_list = sign_status_list(
        bytes(packed), uri=URI, key=key, iat=NOW - 600, exp=NOW + 86400, ttl=3600
    )
    old_list = sign_status_list(
        bytes(packed), uri=URI, key=key, iat=NOW - 90000, exp=NOW - 3600, ttl=3600
    )
    future_list = sign_status_list(
        bytes(packed), uri=URI, key=key, iat=NOW + 3600, exp=NOW + 90000, ttl=3600
    )
    good = sign(claims(), key, typ="statuspass+jwt")
    h, p, s = good.split(".")
    hdr = {"alg": "ES256", "kid": key.kid, "typ": "statuspass+jwt"}
    tampered = b64url_encode(json.dumps(claims(ent="living_wage")).encode())
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = s[:-1] + last[last.index(s[-1]) ^ 1]  # flips a trailing (unused) bit
    stranger_jwk = stranger.public().to_jwk()

    def card(iat: int, exp: int) -> str:
        """A parking card's proof: its number and the last day before `exp`, no name."""
        last_day = datetime.fromtimestamp(exp - 1, UTC).date().isoformat()
        body = claims(iat=iat, exp=exp, ent="parking_card", card_number="1234567800")
        body.pop("nam")
        return sign({**body, "card_valid_until": last_day}, key, typ="statuspass+jwt")

    def case(
        name: str, token: str, result: str, reason: str | None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "name": name,
            "token": token,
            "now": extra.get("now", NOW),
            "jwks_fetched_at": extra.get("fetched_at", NOW - 60),
            "jwks_max_age_s": 86400,
            "status_lists": extra.get("lists", [fresh_list]),
            "allowed_types": extra.get("allowed_types"),
            "expected": {"result": result, "reason": reason},
        }

    cases = [
        case("valid_es256", good, "valid", None),
        case("valid_eddsa", sign(claims(), eddsa, typ="statuspass+jwt"), "valid", None),
        case(
            "valid_typ_case_insensitive",
            forge({**hdr, "typ": "StatusPass+JWT"}, claims(), key),
            "valid",
            None,
        ),
        case(
            "jku_x5u_ignored",
            forge({**hdr, "jku": "https://evil/jwks", "x5u": "https://evil/x"}, claims(), key),
            "valid",
            None,
        ),
        case("tampered_payload", f"{h}.{tampered}.{s}", "invalid", "bad_signature"),
        case("wrong_typ_jwt", forge({**hdr, "typ": "JWT"}, claims(), key), "invalid", "malformed"),
        case("status_list_as_proof", fresh_list, "invalid", "malformed"),
        case(
            "missing_typ",
            forge({"alg": "ES256", "kid": key.kid}, claims(), key),
            "invalid",
            "malformed",
        ),
        case("alg_none", forge({**hdr, "alg": "none"}, claims(), None), "invalid", "bad_signature"),
        case("hs256_public_key_secret", hs256_with_public_key(key), "invalid", "bad_signature"),
        case(
            "kid_unknown", sign(claims(), stranger, typ="statuspass+jwt"), "invalid", "unknown_key"
        ),
        case(
            "kid_unknown_stale_keys",
            sign(claims(), stranger, typ="statuspass+jwt"),
            "undetermined",
            "stale_keys",
            fetched_at=NOW - 90000,
        ),
        case(
            "jwk_injection",
            forge({**hdr, "kid": stranger.kid, "jwk": stranger_jwk}, claims(), stranger),
            "invalid",
            "unknown_key",
        ),
        case(
            "x5c_injection",
            forge({**hdr, "x5c": ["MIIB"]}, claims(), stranger),
            "invalid",
            "bad_signature",
        ),
        case("signature_stripped", f"{h}.{p}.", "invalid", "bad_signature"),
        case(
            "expired",
            sign(claims(iat=NOW - 400, exp=NOW - 60), key, typ="statuspass+jwt"),
            "invalid",
            "expired",
        ),
        case(
            "not_yet_valid",
            sign(claims(iat=NOW + 61, exp=NOW + 400), key, typ="statuspass+jwt"),
            "undetermined",
            "check_clock",
        ),
        # the clock-skew leeway is for `iat` (an issuer clock a little ahead); a proof
        # ends at its `exp`, never later (a 60 s leeway on exp once read `valid` here)
        case(
            "iat_within_skew",
            sign(claims(iat=NOW + 60, exp=NOW + 400), key, typ="statuspass+jwt"),
            "valid",
            None,
        ),
        case(
            "last_second",
            sign(claims(iat=NOW - 400, exp=NOW + 1), key, typ="statuspass+jwt"),
            "valid",
            None,
        ),
        case(
            "expires_now",
            sign(claims(iat=NOW - 400, exp=NOW), key, typ="statuspass+jwt"),
            "invalid",
            "expired",
        ),
        case(
            "expired_21s_ago",
            sign(claims(iat=NOW - 400, exp=NOW - 21), key, typ="statuspass+jwt"),
            "invalid",
            "expired",
        ),
        # a parking card's proof ends with the card: `exp` is the end of the day its
        # derived `card_valid_until` names
        case("parking_card_valid", card(NOW - 3600, NOW + 43200), "valid", None),
        case("parking_card_expired", card(NOW - 86400 * 365, NOW - 1), "invalid", "expired"),
        # times a verifier cannot show (past 9999-12-31T23:59:59Z) are malformed, not a crash
        case(
            "exp_after_year_9999",
            sign(claims(exp=253402300800), key, typ="statuspass+jwt"),
            "invalid",
            "malformed",
        ),
        case(
            "revoked",
            sign(claims(status={"status_list": {"idx": 6, "uri": URI}}), key, typ="statuspass+jwt"),
            "invalid",
            "revoked",
        ),
        case(
            "suspended",
            sign(claims(status={"status_list": {"idx": 7, "uri": URI}}), key, typ="statuspass+jwt"),
            "invalid",
            "suspended",
        ),
        case("stale_list", good, "undetermined", "stale_status_list", lists=[old_list]),
        case("missing_list", good, "undetermined", "stale_status_list", lists=[]),
        case("stale_keys", good, "undetermined", "stale_keys", fetched_at=NOW - 90000),
        case(
            "clock_before_2025",
            good,
            "undetermined",
            "check_clock",
            now=1700000000,
            fetched_at=1699999000,
        ),
        case("clock_behind_list", good, "undetermined", "check_clock", lists=[future_list]),
        case("non_canonical_base64_signature", f"{h}.{p}.{bumped}", "invalid", "malformed"),
        case("padded_base64", f"{h}.{p}.{s}==", "invalid", "malformed"),
        case("trailing_segment", f"{good}.", "invalid", "malformed"),
        case("trailing_garbage", f"{good}!", "invalid", "malformed"),
        case("oversized", f"{h}.{p + 'A' * 4096}.{s}", "invalid", "malformed"),
        case(
            "crit", forge({**hdr, "crit": ["exp"], "exp": 1}, claims(), key), "invalid", "malformed"
        ),
        case("not_permitted", good, "invalid", "not_permitted", allowed_types=["parking_card"]),
        case(
            "unknown_type",
            sign(claims(ent="pension"), key, typ="statuspass+jwt"),
            "invalid",
            "malformed",
        ),
    ]
    doc = {
        "description": "verify_offline vectors; times are epoch seconds; test-only public keys",
        "jwks": jwks_document([key.public(), eddsa.public()]),
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
