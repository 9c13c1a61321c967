from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidInput
from app.tokens import code_digest, format_code, new_code, normalize_code

codes = st.integers(0, 10**10 - 1).map(lambda n: new_code(lambda _: n))


@given(codes)
def test_new_codes_normalize_and_format(code: str) -> None:
    assert len(code) == 12 and code.isdigit()
    assert 1 <= int(code[10:]) <= 97
    assert normalize_code(code) == code
    assert normalize_code(format_code(code)) == code
    assert normalize_code(format_code(code).replace(" ", "-")) == code


@given(codes, st.integers(0, 11), st.integers(1, 9))
def test_every_single_digit_substitution_is_caught(code: str, pos: int, delta: int) -> None:
    typo = code[:pos] + str((int(code[pos]) + delta) % 10) + code[pos + 1 :]
    with pytest.raises(InvalidInput, match="check digits"):
        normalize_code(typo)


@given(codes, st.integers(0, 10))
def test_every_adjacent_transposition_is_caught(code: str, pos: int) -> None:
    if code[pos] == code[pos + 1]:
        return  # swapping equal digits is not a typo
    typo = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
    with pytest.raises(InvalidInput, match="check digits"):
        normalize_code(typo)


def test_default_source_is_random() -> None:
    assert len({new_code() for _ in range(50)}) == 50


def test_format() -> None:
    assert format_code("123456789012") == "1234 5678 9012"


@pytest.mark.parametrize(
    "value",
    [
        "1234 5678 901",
        "1234567890123",
        "",
        "1234.5678.9012",
        "".join(chr(0xFF10 + int(c)) for c in "123456789012"),
        "12345678901\u00a02",
    ],
)
def test_bad_input_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_code(value)
    assert err.value.field == "code"


@given(st.binary(max_size=200), codes)
def test_code_digest_is_hmac_sha256_of_the_digits(key: bytes, code: str) -> None:
    # what existing stores hold: the first 128 bits of HMAC-SHA-256, whatever the key's
    # length (keys longer than SHA-256's block are hashed first)
    expected = hmac.digest(key, code.encode("ascii"), "sha256")[:16].hex()
    assert code_digest(code, key) == expected
