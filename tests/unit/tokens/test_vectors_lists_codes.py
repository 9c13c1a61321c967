"""tests/vectors/status_lists.json and codes.json: the valid cases read as stated, the
invalid ones refused for the reason given. web/test/lists_codes.test.mjs runs the same
files against the browser's core and its input field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.tokens import (
    InvalidInput,
    JoseError,
    format_code,
    get_status,
    normalize_code,
    parse_jwks,
    parse_status_list,
)

HERE = Path(__file__).parents[2] / "vectors"
LISTS = json.loads((HERE / "status_lists.json").read_text("utf-8"))
CODES = json.loads((HERE / "codes.json").read_text("utf-8"))
KEYS = parse_jwks(LISTS["jwks"])


@pytest.mark.parametrize("case", LISTS["valid"], ids=[c["name"] for c in LISTS["valid"]])
def test_valid_status_list(case: dict[str, Any]) -> None:
    parsed = parse_status_list(case["token"], KEYS)
    assert (parsed.uri, parsed.iat, parsed.exp, parsed.ttl) == (
        case["uri"],
        case["iat"],
        case["exp"],
        case["ttl"],
    )
    for idx, value in case["statuses"].items():
        assert get_status(parsed.packed, int(idx)) == value
    with pytest.raises(IndexError):
        get_status(parsed.packed, case["beyond"])


@pytest.mark.parametrize("case", LISTS["invalid"], ids=[c["name"] for c in LISTS["invalid"]])
def test_invalid_status_list(case: dict[str, Any]) -> None:
    with pytest.raises(JoseError) as caught:
        parse_status_list(case["token"], KEYS)
    assert caught.value.reason == case["reason"]


@pytest.mark.parametrize("case", CODES["valid"], ids=[c["typed"] for c in CODES["valid"]])
def test_valid_code(case: dict[str, str]) -> None:
    assert normalize_code(case["typed"]) == case["digits"]
    assert format_code(case["digits"]) == case["shown"]


@pytest.mark.parametrize("case", CODES["invalid"], ids=[c["why"] for c in CODES["invalid"]])
def test_invalid_code(case: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        normalize_code(case["typed"])


def test_vectors_hold_no_private_key() -> None:
    assert all("d" not in jwk for jwk in LISTS["jwks"]["keys"])
