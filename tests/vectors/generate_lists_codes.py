"""The status-list and numeric-code vectors (status_lists.json, codes.json), written by
generate.py beside the token vectors. Valid and invalid cases are kept apart: every
valid one must be read exactly as stated, every invalid one refused for the reason given.

The expected values are written here by hand, from the draft and SPEC; `check` then holds
the Python core to them before anything is written, so a file never records a bug.
"""

from __future__ import annotations

import zlib
from typing import Any

from app.tokens import (
    InvalidInput,
    JoseError,
    SigningKey,
    format_code,
    get_status,
    jwks_document,
    normalize_code,
    parse_jwks,
    parse_status_list,
    sign,
    sign_status_list,
)
from app.tokens._codec import b64url_encode

NOW = 1748779200  # 2025-06-01T12:00:00Z
URI = "https://statuspass.example.org/v1/status-lists/1"


def _packed(size: int, entries: dict[int, int]) -> bytes:
    packed = bytearray(size // 4)
    for idx, value in entries.items():
        packed[idx // 4] |= value << (2 * (idx % 4))
    return bytes(packed)


def status_list_vectors() -> dict[str, Any]:
    key, stranger = SigningKey.generate("ES256"), SigningKey.generate("ES256")
    times = {"iat": NOW - 600, "exp": NOW + 86400, "ttl": 3600}
    entries = {0: 0, 5: 0, 6: 1, 7: 2, 8: 3, 2**20 - 1: 1}

    def lst(data: bytes) -> str:
        return b64url_encode(zlib.compress(data, 9))

    def raw(status_list: Any, **claims: Any) -> str:
        return sign(
            {"sub": URI, **times, "status_list": status_list, **claims}, key, typ="statuslist+jwt"
        )

    big = _packed(2**20, entries)
    good = sign_status_list(big, uri=URI, key=key, **times)
    head, body, _ = good.split(".")
    valid = [
        {
            "name": "two_bit_list_of_2^20",
            "token": good,
            "uri": URI,
            **times,
            "statuses": {str(i): v for i, v in entries.items()},
            "beyond": 2**20,
        },
        {
            "name": "small_list",
            "token": sign_status_list(_packed(16, {1: 2, 15: 1}), uri=URI, key=key, **times),
            "uri": URI,
            **times,
            "statuses": {"0": 0, "1": 2, "15": 1},
            "beyond": 16,
        },
    ]
    invalid = [
        {
            "name": "signed_by_a_stranger",
            "token": sign_status_list(big, uri=URI, key=stranger, **times),
            "reason": "unknown_key",
        },
        {
            "name": "signature_altered",
            "token": f"{head}.{body}.{b64url_encode(bytes(64))}",
            "reason": "bad_signature",
        },
        {
            "name": "typ_is_a_proof",
            "token": sign(
                {"sub": URI, **times, "status_list": {"bits": 2, "lst": lst(big)}},
                key,
                typ="statuspass+jwt",
            ),
            "reason": "malformed",
        },
        {"name": "one_bit_list", "token": raw({"bits": 1, "lst": lst(big)}), "reason": "malformed"},
        {
            "name": "lst_not_base64url",
            "token": raw({"bits": 2, "lst": "not base64!"}),
            "reason": "malformed",
        },
        {
            "name": "lst_not_zlib",
            "token": raw({"bits": 2, "lst": b64url_encode(b"plain bytes")}),
            "reason": "malformed",
        },
        {
            "name": "lst_truncated",
            "token": raw({"bits": 2, "lst": b64url_encode(zlib.compress(big)[:-4])}),
            "reason": "malformed",
        },
        {
            "name": "lst_trailing_data",
            "token": raw({"bits": 2, "lst": b64url_encode(zlib.compress(big) + b"\0")}),
            "reason": "malformed",
        },
        {
            "name": "lst_inflates_past_16_MiB",
            "token": raw({"bits": 2, "lst": lst(bytes(2**24 + 1))}),
            "reason": "malformed",
        },
        {
            "name": "exp_not_after_iat",
            "token": sign(
                {
                    "sub": URI,
                    "iat": NOW,
                    "exp": NOW,
                    "ttl": 3600,
                    "status_list": {"bits": 2, "lst": lst(big)},
                },
                key,
                typ="statuslist+jwt",
            ),
            "reason": "malformed",
        },
        {
            "name": "ttl_negative",
            "token": sign(
                {
                    "sub": URI,
                    "iat": NOW,
                    "exp": NOW + 60,
                    "ttl": -1,
                    "status_list": {"bits": 2, "lst": lst(big)},
                },
                key,
                typ="statuslist+jwt",
            ),
            "reason": "malformed",
        },
    ]
    return {
        "description": "status-list JWT vectors: parse with the jwks, then read entries",
        "jwks": jwks_document([key.public()]),
        "valid": valid,
        "invalid": invalid,
    }


def code_vectors() -> dict[str, Any]:
    return {
        "description": "12-digit numeric codes as typed: ASCII spaces and dashes ignored, "
        "the last two digits are 97 - (first ten mod 97)",
        "valid": [
            {"typed": "123456789095", "digits": "123456789095", "shown": "1234 5678 9095"},
            {"typed": "1234 5678 9095", "digits": "123456789095", "shown": "1234 5678 9095"},
            {"typed": "1234-5678-9095", "digits": "123456789095", "shown": "1234 5678 9095"},
            {"typed": " 1234 5678-9095 ", "digits": "123456789095", "shown": "1234 5678 9095"},
            {"typed": "000000000097", "digits": "000000000097", "shown": "0000 0000 0097"},
            {"typed": "0000 0000 9601", "digits": "000000009601", "shown": "0000 0000 9601"},
            {"typed": "9999999999 49", "digits": "999999999949", "shown": "9999 9999 9949"},
        ],
        "invalid": [
            {"typed": "123456789094", "why": "check digits off by one"},
            {"typed": "213456789095", "why": "two digits transposed"},
            {"typed": "123456789195", "why": "one digit changed"},
            {"typed": "000000000000", "why": "check digits 00 never occur"},
            {"typed": "12345678909", "why": "eleven digits"},
            {"typed": "1234567890950", "why": "thirteen digits"},
            {"typed": "1234 5678 909a", "why": "a letter"},
            {
                "typed": "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10\uff19\uff15",
                "why": "fullwidth digits",
            },
            {"typed": "12345678909\u2075", "why": "a superscript digit"},
            {"typed": "", "why": "nothing"},
        ],
    }


def check(lists: dict[str, Any], codes: dict[str, Any]) -> None:
    """Hold the Python core to the vectors before they are written."""
    keys = parse_jwks(lists["jwks"])
    for case in lists["valid"]:
        parsed = parse_status_list(case["token"], keys)
        assert (parsed.uri, parsed.iat, parsed.exp, parsed.ttl) == (
            case["uri"],
            case["iat"],
            case["exp"],
            case["ttl"],
        ), case["name"]
        for idx, value in case["statuses"].items():
            assert get_status(parsed.packed, int(idx)) == value, case["name"]
    for case in lists["invalid"]:
        try:
            parse_status_list(case["token"], keys)
        except JoseError as exc:
            assert exc.reason == case["reason"], (case["name"], exc.reason)
        else:
            raise AssertionError(f"{case['name']} was accepted")
    for case in codes["valid"]:
        assert normalize_code(case["typed"]) == case["digits"]
        assert format_code(case["digits"]) == case["shown"]
    for case in codes["invalid"]:
        try:
            normalize_code(case["typed"])
        except InvalidInput:
            continue
        raise AssertionError(f"{case['typed']!r} was accepted")
