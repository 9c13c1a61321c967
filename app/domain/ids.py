"""Random identifiers on the hot paths, from one `os.urandom` call per 256 of them.

`secrets.token_hex` makes a `getrandom` system call for every id: about 4 µs of an
online verification, more than the id is worth. The bytes here are the same kernel
randomness, drawn 4 KiB at a time; each byte is handed out once. A forked child starts
with an empty buffer (its parent's bytes are never reused).
"""

from __future__ import annotations

import os

__all__ = ["random_hex"]

_CHUNK = 4096


class _Pool:
    __slots__ = ("data", "pos")

    def __init__(self) -> None:
        self.data = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            self.data = os.urandom(max(_CHUNK, n))
            self.pos, end = 0, n
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def reset(self) -> None:
        self.data = b""
        self.pos = 0


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.reset)


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes as hex, as `secrets.token_hex(nbytes)`."""
    return _pool.take(nbytes).hex()
