from __future__ import annotations

import os
import random
import time
import zlib

import pytest

from app.tokens import (
    PROOF_TYP,
    STATUS_INVALID,
    STATUS_SUSPENDED,
    STATUS_VALID,
    JoseError,
    SigningKey,
    decode_lst,
    encode_lst,
    get_status,
    parse_status_list,
    set_status,
    sign,
    sign_status_list,
)
from app.tokens._codec import b64url_encode


def test_draft_one_bit_example() -> None:
    # draft-ietf-oauth-status-list, section 4.1, 1-bit example: 16 entries -> b9 a3
    values = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    packed = bytearray(2)
    for i, v in enumerate(values):
        set_status(packed, i, v, bits=1)
    assert bytes(packed) == bytes([0xB9, 0xA3])
    assert decode_lst("eNrbuRgAAhcBXQ") == bytes([0xB9, 0xA3])
    assert [get_status(packed, i, bits=1) for i in range(16)] == values


def test_draft_two_bit_example() -> None:
    # same section, 2-bit example: 12 entries -> c9 44 f9
    values = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    packed = bytearray(3)
    for i, v in enumerate(values):
        set_status(packed, i, v)
    assert bytes(packed) == bytes([0xC9, 0x44, 0xF9])
    assert decode_lst("eNo76fITAAPfAgc") == bytes([0xC9, 0x44, 0xF9])
    assert [get_status(packed, i) for i in range(12)] == values


def test_set_status_leaves_neighbours_alone() -> None:
    packed = bytearray(b"\xff" * 4)
    set_status(packed, 5, STATUS_VALID)
    assert [get_status(packed, i) for i in range(16)] == [3] * 5 + [0] + [3] * 10
    with pytest.raises(ValueError):
        set_status(packed, 0, 4)
    with pytest.raises(IndexError):
        get_status(packed, 16)
    with pytest.raises(IndexError):
        get_status(packed, -1)


def test_round_trip_random() -> None:
    data = os.urandom(4096)
    assert decode_lst(encode_lst(data)) == data


def test_decompression_is_bounded() -> None:
    bomb = b64url_encode(zlib.compress(bytes(2**24 + 1), 9))
    with pytest.raises(JoseError, match="too large"):
        decode_lst(bomb)
    assert len(decode_lst(b64url_encode(zlib.compress(bytes(2**24), 9)))) == 2**24


def test_trailing_and_truncated_data_refused() -> None:
    good = zlib.compress(b"abc")
    for bad in (good + b"x", good[:-2], b"not zlib"):
        with pytest.raises(JoseError):
            decode_lst(b64url_encode(bad))


def test_signed_list_round_trip_with_2_20_entries() -> None:
    key = SigningKey.generate()
    packed = bytearray(2**20 // 4)
    rng = random.Random(1)
    revoked = {
        rng.randrange(2**20): rng.choice([STATUS_INVALID, STATUS_SUSPENDED]) for _ in range(5000)
    }
    for idx, value in revoked.items():
        set_status(packed, idx, value)
    start = time.perf_counter()
    token = sign_status_list(bytes(packed), uri="https://x/1", key=key, iat=1, exp=2, ttl=3)
    elapsed = time.perf_counter() - start
    # measured on the dev box: ~6 ms for 2**20 entries with 5000 set (256 KiB -> 11.8 KB
    # compressed), ~2 ms for an all-valid list; bound generously so a loaded CI box passes
    assert elapsed < 1.0
    parsed = parse_status_list(token, {key.kid: key.public()}, uri="https://x/1")
    assert (parsed.uri, parsed.iat, parsed.exp, parsed.ttl) == ("https://x/1", 1, 2, 3)
    assert parsed.packed == bytes(packed)
    idx = next(iter(revoked))
    assert get_status(parsed.packed, idx) == revoked[idx]


def test_parse_rejects_wrong_typ_uri_and_bits() -> None:
    key = SigningKey.generate()
    keys = {key.kid: key.public()}
    token = sign_status_list(bytes(8), uri="https://x/1", key=key, iat=1, exp=2, ttl=3)
    with pytest.raises(JoseError):
        parse_status_list(token, keys, uri="https://x/2")
    proof_typed = sign(
        {
            "sub": "u",
            "iat": 1,
            "exp": 2,
            "ttl": 3,
            "status_list": {"bits": 2, "lst": encode_lst(b"")},
        },
        key,
        typ=PROOF_TYP,
    )
    with pytest.raises(JoseError):
        parse_status_list(proof_typed, keys)
    one_bit = sign(
        {
            "sub": "u",
            "iat": 1,
            "exp": 2,
            "ttl": 3,
            "status_list": {"bits": 1, "lst": encode_lst(b"")},
        },
        key,
        typ="statuslist+jwt",
    )
    with pytest.raises(JoseError):
        parse_status_list(one_bit, keys)
    backwards = sign_status_list(bytes(8), uri="u", key=key, iat=5, exp=5, ttl=3)
    with pytest.raises(JoseError):
        parse_status_list(backwards, keys)
