"""Verification ids: random, never handed out twice, not shared with a forked child."""

from __future__ import annotations

import os

from app.domain.ids import random_hex


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
