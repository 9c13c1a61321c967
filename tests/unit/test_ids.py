"""Random ids, jti and code numbers: never handed out twice, not shared with a forked
child, uniform."""

from __future__ import annotations

import os
import string

import pytest

from app.domain import ids
from app.domain.ids import random_below, random_hex, random_urlsafe

_URLSAFE = set(string.ascii_letters + string.digits + "-_")


def test_ids_are_hex_of_the_size_asked_and_never_repeat() -> None:
    ids = [random_hex(16) for _ in range(10_000)]  # 160 KB: the pool is refilled 40 times
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)
    assert len(random_hex(5000)) == 10_000  # more than the pool holds: drawn at once


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    random_hex(16)  # the parent's pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        os.write(write, random_hex(16).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != random_hex(16)  # the parent's next id: what a shared pool would give


def test_jti_are_urlsafe_text_of_the_size_asked_and_never_repeat() -> None:
    jtis = [random_urlsafe(12) for _ in range(5_000)]
    assert all(len(j) == 16 and set(j) <= _URLSAFE for j in jtis)  # 96 bits, no padding
    assert len(set(jtis)) == len(jtis)
    assert len(random_urlsafe(5)) == 7  # unpadded, as secrets.token_urlsafe


def test_numbers_below_cover_the_range_and_nothing_else() -> None:
    assert {random_below(5) for _ in range(500)} == set(range(5))
    assert random_below(1) == 0
    assert all(0 <= random_below(10**10) < 10**10 for _ in range(1_000))
    assert random_below(1 << 64) >= 0
    for n in (0, (1 << 64) + 1):
        with pytest.raises(ValueError):
            random_below(n)


def test_numbers_below_draw_again_rather_than_favour_low_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2**64 is not a multiple of 10**10: the top (2**64 % 10**10) draws would make the
    # lowest codes a little likelier than the others, so they are drawn again
    limit = (1 << 64) - (1 << 64) % 10**10
    draws = iter([limit, (1 << 64) - 1, limit - 1])

    class Draws:
        def take(self, n: int) -> bytes:
            return next(draws).to_bytes(n, "big")

    monkeypatch.setattr(ids, "_pool", Draws())
    assert random_below(10**10) == (limit - 1) % 10**10
    assert next(draws, None) is None  # the two draws at or past the limit were dropped
