"""Random values on the hot paths: verification ids, proofs' jti and numeric codes, from
one `os.urandom` call per 4 KiB of them.

`secrets.token_hex` makes a `getrandom` system call for every id: about 4 µs of an
online verification, more than the id is worth. The bytes here are the same kernel
randomness, drawn 4 KiB at a time; each byte is handed out once. A forked child starts
with an empty buffer (its parent's bytes are never reused).
"""

from __future__ import annotations

import base64
import os

__all__ = ["random_below", "random_hex", "random_urlsafe"]

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


def random_urlsafe(nbytes: int) -> str:
    """`nbytes` random bytes in unpadded base64url, as `secrets.token_urlsafe(nbytes)`."""
    return base64.urlsafe_b64encode(_pool.take(nbytes)).rstrip(b"=").decode("ascii")


_TWO_64 = 1 << 64


def random_below(n: int) -> int:
    """A uniform random integer in [0, n) for 1 <= n <= 2**64, as `secrets.randbelow(n)`.

    64 bits are drawn and reduced modulo n. The draws at or past the largest multiple
    of n below 2**64 are dropped and drawn again (for n = 10^10, one in 1.8 billion), so
    every value stays exactly equally likely. (`secrets.randbelow` draws n.bit_length()
    bits and draws again when they reach n: 42% of the time for 10^10.)
    """
    if not 1 <= n <= _TWO_64:
        raise ValueError(f"random_below draws from 1 to 2**64 values, not {n}")
    limit = _TWO_64 - _TWO_64 % n
    while True:
        value = int.from_bytes(_pool.take(8), "big")
        if value < limit:
            return value % n
