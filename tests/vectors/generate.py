"""Generate the test vectors: tokens.json (verify_offline over proofs), and beside it
status_lists.json and codes.json (`generate_lists_codes`).

Run from the repository root: ``python tests/vectors/generate.py``. Fresh test-only
keys each run; the file holds public JWKS only (no private key is ever written).
Every case names the inputs of `app.tokens.verify_offline` and its expected verdict.

Two verifiers run them: the Python one (tests/unit/tokens/test_vectors.py) and the
browser's (web/test/vectors.test.mjs under node). Each status list of a case goes
through the verifier's own list parser first; a list it refuses (bad signature, a
list that fails to inflate, trailing data, ...) is simply not in its cache. The
`entitlement_types` are the registry as issuer metadata publishes it, which is all
the browser knows of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import get_default_algorithms

from app.domain.registry import load_registry, public_types
from app.tokens import PROOF_TYP, SigningKey, jwks_document, sign, sign_status_list
from app.tokens._codec import b64url_decode, b64url_encode
from app.tokens.statuslist import MAX_LIST_BYTES
from tests.vectors.generate_lists_codes import check, code_vectors, status_list_vectors

NOW = 1748779200  # 2025-06-01T12:00:00Z
ISS = "https://statuspass.example.org"
URI = ISS + "/v1/status-lists/1"
TYP = PROOF_TYP
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


def forge_text(header: str, body: str, key: SigningKey) -> str:
    """Sign header and claims given as JSON text (to reach the strict JSON parsers)."""
    signing_input = f"{b64url_encode(header.encode())}.{b64url_encode(body.encode())}"
    sig = get_default_algorithms()[key.alg].sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{b64url_encode(sig)}"


def raw_list(key: SigningKey, lst: str, *, bits: int = 2, sub: str = URI) -> str:
    """A status-list JWT around any `lst` text: what a broken or hostile server sends."""
    body = {
        "sub": sub,
        "iat": NOW - 600,
        "exp": NOW + 86400,
        "ttl": 3600,
        "status_list": {"bits": bits, "lst": lst},
    }
    return sign(body, key, typ="statuslist+jwt")


def list_with_integer(key: SigningKey, lst: str, digits: int) -> str:
    """A status-list JWT with an unknown claim holding an integer of `digits` digits (as
    text: Python will not turn an int of more than 4,300 digits into a string)."""
    header = {"alg": key.alg, "kid": key.kid, "typ": "statuslist+jwt"}
    body = {
        "sub": URI,
        "iat": NOW - 600,
        "exp": NOW + 86400,
        "ttl": 3600,
        "ext": "@",
        "status_list": {"bits": 2, "lst": lst},
    }
    return forge_text(json.dumps(header), json.dumps(body).replace('"@"', "9" * digits), key)


def hs256_with_public_key(key: SigningKey) -> str:
    pem = key.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": key.kid, "typ": TYP}
    body = b64url_encode(json.dumps(claims()).encode())
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{body}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def nested_claims(depth: int) -> str:
    """The claims as JSON text with an unknown claim of lists `depth` levels deep
    (as text: json.dumps itself gives up long before 1100 levels)."""
    return json.dumps(claims(ext="@")).replace('"@"', "[" * depth + "]" * depth)


def flip_last(data: bytes) -> bytes:
    """The same stream with its Adler-32 checksum broken."""
    return data[:-1] + bytes([data[-1] ^ 1])


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
    good = sign(claims(), key, typ=TYP)
    h, p, s = good.split(".")
    hdr = {"alg": "ES256", "kid": key.kid, "typ": TYP}
    tampered = b64url_encode(json.dumps(claims(ent="living_wage")).encode())
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = s[:-1] + last[last.index(s[-1]) ^ 1]  # flips a trailing (unused) bit
    stranger_jwk = stranger.public().to_jwk()
    eddsa_good = sign(claims(), eddsa, typ=TYP)
    card = {"card_number": "1234567890", "card_valid_until": "2030-01-01"}

    def at(idx: int, **more: Any) -> str:
        """A proof pointing at list entry `idx` (an int, or anything for malformed ones)."""
        return sign(claims(status={"status_list": {"idx": idx, "uri": URI}}, **more), key, typ=TYP)

    def card_proof(iat: int, exp: int) -> str:
        """A parking card's proof as issued: its number and the last day before `exp`."""
        last_day = datetime.fromtimestamp(exp - 1, UTC).date().isoformat()
        body = claims(iat=iat, exp=exp, ent="parking_card", nam=None, card_number="1234567890")
        return sign({**body, "card_valid_until": last_day}, key, typ=TYP)

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
        case("valid_eddsa", sign(claims(), eddsa, typ=TYP), "valid", None),
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
        case("kid_unknown", sign(claims(), stranger, typ=TYP), "invalid", "unknown_key"),
        case(
            "kid_unknown_stale_keys",
            sign(claims(), stranger, typ=TYP),
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
            sign(claims(iat=NOW - 400, exp=NOW - 60), key, typ=TYP),
            "invalid",
            "expired",
        ),
        case(
            "not_yet_valid",
            sign(claims(iat=NOW + 61, exp=NOW + 400), key, typ=TYP),
            "undetermined",
            "check_clock",
        ),
        # the clock-skew leeway is for `iat` (an issuer clock a little ahead); a proof
        # ends at its `exp`, never later (a 60 s leeway on exp once read `valid` here)
        case(
            "iat_within_skew",
            sign(claims(iat=NOW + 60, exp=NOW + 400), key, typ=TYP),
            "valid",
            None,
        ),
        case(
            "last_second",
            sign(claims(iat=NOW - 400, exp=NOW + 1), key, typ=TYP),
            "valid",
            None,
        ),
        case(
            "expires_now",
            sign(claims(iat=NOW - 400, exp=NOW), key, typ=TYP),
            "invalid",
            "expired",
        ),
        case(
            "expired_21s_ago",
            sign(claims(iat=NOW - 400, exp=NOW - 21), key, typ=TYP),
            "invalid",
            "expired",
        ),
        # a parking card's proof ends with the card: `exp` is the end of the day its
        # derived `card_valid_until` names
        case("parking_card_last_second", card_proof(NOW - 3600, NOW + 1), "valid", None),
        case("parking_card_expired", card_proof(NOW - 86400 * 365, NOW), "invalid", "expired"),
        # times a verifier cannot show (past 9999-12-31T23:59:59Z, before 1970) are
        # malformed, never a crash
        case(
            "exp_after_year_9999",
            sign(claims(exp=253402300800), key, typ=TYP),
            "invalid",
            "malformed",
        ),
        case(
            "iat_before_1970",
            sign(claims(iat=-1), key, typ=TYP),
            "invalid",
            "malformed",
        ),
        case(
            "revoked",
            sign(claims(status={"status_list": {"idx": 6, "uri": URI}}), key, typ=TYP),
            "invalid",
            "revoked",
        ),
        case(
            "suspended",
            sign(claims(status={"status_list": {"idx": 7, "uri": URI}}), key, typ=TYP),
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
            sign(claims(ent="pension"), key, typ=TYP),
            "invalid",
            "malformed",
        ),
        # -- what the browser meets and Python rarely does: lists its parser refuses
        case(
            "list_not_zlib",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(b"this is not a zlib stream"))],
        ),
        # Integers: Python's json reads at most 4,300 digits (CPython's guard against
        # quadratic int parsing); a list with a longer one is refused by both verifiers.
        case(
            "list_unknown_integer_of_4300_digits",
            good,
            "valid",
            None,
            lists=[list_with_integer(key, b64url_encode(zlib.compress(bytes(packed))), 4300)],
        ),
        case(
            "list_unknown_integer_beyond_4300_digits",
            good,
            "undetermined",
            "stale_status_list",
            lists=[list_with_integer(key, b64url_encode(zlib.compress(bytes(packed))), 4301)],
        ),
        case(
            "list_truncated",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(packed))[:-9]))],
        ),
        case(
            "list_trailing_data",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(packed)) + b"\x00"))],
        ),
        case(
            "list_bad_checksum",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(flip_last(zlib.compress(bytes(packed)))))],
        ),
        case(
            "list_zip_bomb",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(MAX_LIST_BYTES + 1), 9)))],
        ),
        case(
            "list_at_the_size_bound",
            good,
            "valid",
            None,
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(MAX_LIST_BYTES), 9)))],
        ),
        case(
            "list_non_canonical_base64",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(packed))) + "=")],
        ),
        case(
            "list_one_bit",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(packed))), bits=1)],
        ),
        case(
            "list_signed_by_stranger",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(stranger, b64url_encode(zlib.compress(bytes(packed))))],
        ),
        case(
            "list_of_another_uri",
            good,
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(packed))), sub=URI + "0")],
        ),
        case(
            "list_shorter_than_index",
            sign(claims(status={"status_list": {"idx": 100, "uri": URI}}), key, typ=TYP),
            "undetermined",
            "stale_status_list",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(16))))],
        ),
        case(
            "status_three_is_revoked",
            sign(claims(status={"status_list": {"idx": 9, "uri": URI}}), key, typ=TYP),
            "invalid",
            "revoked",
            lists=[raw_list(key, b64url_encode(zlib.compress(bytes(packed[:2]) + b"\x0c")))],
        ),
        case(
            "keys_fetched_in_the_future", good, "undetermined", "check_clock", fetched_at=NOW + 61
        ),
        case(
            "expired_with_stale_list",
            sign(claims(iat=NOW - 400, exp=NOW - 60), key, typ=TYP),
            "invalid",
            "expired",
            lists=[old_list],
        ),
        # -- strict JSON: what JSON.parse alone would read differently from Python
        case(
            "header_duplicate_member",
            forge_text(
                f'{{"alg":"ES256","kid":"{key.kid}","typ":"statuspass+jwt","typ":"JWT"}}',
                json.dumps(claims()),
                key,
            ),
            "invalid",
            "malformed",
        ),
        case(
            "header_with_bom",
            forge_text(
                f'\ufeff{{"alg":"ES256","kid":"{key.kid}","typ":"statuspass+jwt"}}',
                json.dumps(claims()),
                key,
            ),
            "invalid",
            "malformed",
        ),
        case(
            "claims_duplicate_member",
            forge_text(json.dumps(hdr), json.dumps(claims())[:-1] + ', "exp": 9999999999}', key),
            "invalid",
            "malformed",
        ),
        case(
            "claims_float_iat",
            forge_text(json.dumps(hdr), json.dumps(claims(iat=float(NOW - 30))), key),
            "invalid",
            "malformed",
        ),
        case(
            "claims_exponent_exp",
            forge_text(
                json.dumps(hdr), json.dumps(claims()).replace(str(NOW + 270), "1.74877947e9"), key
            ),
            "invalid",
            "malformed",
        ),
        case(
            "claims_bool_idx",
            at(True),
            "invalid",
            "malformed",
        ),
        case(
            "claims_negative_idx",
            at(-1),
            "invalid",
            "malformed",
        ),
        case(
            "claims_huge_idx",
            at(2**70),
            "undetermined",
            "stale_status_list",
        ),
        case(
            "claims_escaped_strings",
            forge_text(json.dumps(hdr), json.dumps(claims(nam='Ren\u00e9 "R"')), key),
            "valid",
            None,
        ),
        case(
            "claims_control_character",
            forge_text(json.dumps(hdr), json.dumps(claims()).replace("J. PEETERS", "J.\tX"), key),
            "invalid",
            "malformed",
        ),
        # Nesting: a fixed limit of 512 levels (the claims object is level 1) in both
        # verifiers; an unknown claim nested up to it is tolerated, one level more is not.
        case(
            "claims_nested_unknown_claim",
            forge_text(json.dumps(hdr), nested_claims(511), key),
            "valid",
            None,
        ),
        case(
            "claims_nested_one_past_the_limit",
            forge_text(json.dumps(hdr), nested_claims(512), key),
            "invalid",
            "malformed",
        ),
        case(
            "claims_nested_beyond_the_parsers",
            forge_text(json.dumps(hdr), nested_claims(1100), key),
            "invalid",
            "malformed",
        ),
        case("claims_name_null", sign(claims(nam=None), key, typ=TYP), "valid", None),
        case(
            "claims_short_jti",
            sign(claims(jti="c2hvcnQ"), key, typ=TYP),
            "invalid",
            "malformed",
        ),
        case(
            "exp_not_after_iat",
            sign(claims(iat=NOW, exp=NOW), key, typ=TYP),
            "invalid",
            "malformed",
        ),
        case(
            "parking_card",
            sign(claims(ent="parking_card", nam=None, **card), key, typ=TYP),
            "valid",
            None,
        ),
        case(
            "parking_card_missing_attribute",
            sign(
                claims(ent="parking_card", nam=None, card_number="1234567890"),
                key,
                typ=TYP,
            ),
            "invalid",
            "malformed",
        ),
        case(
            "parking_card_revoked",
            sign(
                claims(
                    ent="parking_card",
                    status={"status_list": {"idx": 6, "uri": URI}},
                    **card,
                ),
                key,
                typ=TYP,
            ),
            "invalid",
            "revoked",
        ),
        case(
            "eddsa_tampered",
            f"{eddsa_good.rsplit('.', 1)[0]}.{b64url_encode(bytes(64))}",
            "invalid",
            "bad_signature",
        ),
        case(
            "es256_short_signature",
            f"{h}.{p}.{b64url_encode(b64url_decode(s)[:63])}",
            "invalid",
            "bad_signature",
        ),
    ]
    doc: dict[str, Any] = {
        "description": "verify_offline vectors; times are epoch seconds; test-only public keys",
        "jwks": jwks_document([key.public(), eddsa.public()]),
        "entitlement_types": public_types(load_registry()),
    }
    # valid, invalid and undetermined cases apart: a reader sees at once what must pass
    for verdict in ("valid", "invalid", "undetermined"):
        doc[verdict] = [c for c in cases if c["expected"]["result"] == verdict]
    assert sum(len(doc[v]) for v in ("valid", "invalid", "undetermined")) == len(cases)
    write(OUT, doc)
    lists, codes = status_list_vectors(), code_vectors()
    check(lists, codes)
    write(OUT.with_name("status_lists.json"), lists)
    write(OUT.with_name("codes.json"), codes)


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
