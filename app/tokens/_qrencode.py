"""A fast QR encoder for one case only: ASCII text, byte mode, level M, fixed mask 3.

segno's general encoder spends ~10 ms on a ~v15 symbol even with the mask fixed (module
placement, masking and Reed-Solomon loop over Python objects per bit). Here everything
that depends only on the version — function patterns, format and version information,
the data-module walk and the mask — is computed once and cached, and per symbol only:

* Reed-Solomon runs on Python ints (one shift/xor per data codeword, tables per factor),
* the codewords become a 0/1 byte stream XORed with the cached mask as one int,
* one C-level gather (`operator.itemgetter`) lays stream and template into the matrix.

The block structure comes from segno's tables (a dependency, not a copy), and the
result is tested module-for-module against segno's own encoder with the same mask.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import cache
from typing import Any

from segno import consts

__all__ = ["MASK", "encode_matrix", "fits", "version_for"]

MASK = 3  # (row + column) % 3 == 0
_EC_M_FORMAT_BITS = 0  # level M in the format information (L=1, M=0, Q=3, H=2)
# segno's table of block structures by version and level; untyped in segno
_ECC: Any = consts.ECC
_BIT_ROWS = [bytes((c >> (7 - i)) & 1 for i in range(8)) for c in range(256)]


def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 512, [0] * 256
    value = 1
    for i in range(255):
        exp[i] = value
        log[value] = i
        value <<= 1
        if value & 0x100:
            value ^= 0x11D  # the QR field polynomial x^8 + x^4 + x^3 + x^2 + 1
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


def _mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@cache
def _rs_rows(degree: int) -> tuple[int, ...]:
    """For each factor f, f * generator (minus its leading 1) as a `degree`-byte int."""
    gen = [1]  # coefficients, highest power first, of prod (x - a^i), i < degree
    for i in range(degree):
        nxt = [*gen, 0]
        for j, coef in enumerate(gen):
            nxt[j + 1] ^= _mul(coef, _EXP[i])
        gen = nxt
    tail = gen[1:]
    return tuple(int.from_bytes(bytes(_mul(g, f) for g in tail), "big") for f in range(256))


def _rs_remainder(data: bytes, degree: int) -> bytes:
    rows, shift, mask = _rs_rows(degree), 8 * (degree - 1), (1 << (8 * degree)) - 1
    rem = 0
    for byte in data:
        rem = ((rem << 8) & mask) ^ rows[(rem >> shift) ^ byte]
    return rem.to_bytes(degree, "big")


def _blocks(version: int) -> list[tuple[int, int]]:
    """(data codewords, ecc codewords) per block for level M."""
    return [
        (ec.num_data, ec.num_total - ec.num_data)
        for ec in _ECC[version][consts.ERROR_LEVEL_M]
        for _ in range(ec.num_blocks)
    ]


@cache
def _capacity(version: int) -> int:
    return sum(data for data, _ in _blocks(version))


def fits(length: int, version: int) -> bool:
    """Whether `length` bytes fit `version` at level M in byte mode."""
    count_bits = 8 if version < 10 else 16
    return length < (1 << count_bits) and 4 + count_bits + 8 * length <= 8 * _capacity(version)


@cache
def version_for(length: int) -> int:
    """The smallest version holding `length` bytes at level M in byte mode.

    Raises:
        ValueError: too long for version 40.
    """
    version = next((v for v in range(1, 41) if fits(length, v)), 0)
    if not version:
        raise ValueError("text too long for a QR code at error correction M")
    return version


def _bch(value: int, poly: int, degree: int) -> int:
    rem = value << degree
    for bit in range(rem.bit_length() - 1, degree - 1, -1):
        if rem >> bit & 1:
            rem ^= poly << (bit - degree)
    return (value << degree) | rem


@cache
def _layout(version: int) -> tuple[Callable[[bytes], tuple[int, ...]], int, int, bytes]:
    """Per version: (gather, data module count, mask int, template bytes)."""
    size = 17 + 4 * version
    grid = bytearray(size * size)
    fixed = bytearray(size * size)  # 1 where a function module lives

    def put(x: int, y: int, dark: bool | int) -> None:
        grid[y * size + x], fixed[y * size + x] = int(bool(dark)), 1

    for i in range(size):
        put(6, i, i % 2 == 0)
        put(i, 6, i % 2 == 0)
    for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                if 0 <= cx + dx < size and 0 <= cy + dy < size:
                    put(cx + dx, cy + dy, max(abs(dx), abs(dy)) not in (2, 4))
    if version > 1:
        count = version // 7 + 2
        step = 26 if version == 32 else (version * 4 + count * 2 + 1) // (count * 2 - 2) * 2
        centres = [6, *sorted(size - 7 - k * step for k in range(count - 1))]
        for ay in centres:
            for ax in centres:
                if (ax, ay) in ((6, 6), (6, size - 7), (size - 7, 6)):
                    continue  # those corners hold finder patterns
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        put(ax + dx, ay + dy, max(abs(dx), abs(dy)) != 1)
    fmt = _bch(_EC_M_FORMAT_BITS << 3 | MASK, 0x537, 10) ^ 0x5412
    for i in range(15):
        bit = fmt >> i & 1
        if i < 6:
            put(8, i, bit)
        elif i < 8:
            put(8, i + 1, bit)
        elif i == 8:
            put(7, 8, bit)
        else:
            put(14 - i, 8, bit)
        if i < 8:
            put(size - 1 - i, 8, bit)
        else:
            put(8, size - 15 + i, bit)
    put(8, size - 8, 1)  # the always-dark module
    if version >= 7:
        info = _bch(version, 0x1F25, 12)
        for i in range(18):
            a, b = size - 11 + i % 3, i // 3
            put(a, b, info >> i & 1)
            put(b, a, info >> i & 1)
    order: list[int] = []  # the zigzag walk over data modules, in stream order
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5  # skip the vertical timing column
        upward = (right + 1) & 2 == 0
        for vert in range(size):
            y = size - 1 - vert if upward else vert
            for x in (right, right - 1):
                if not fixed[y * size + x]:
                    order.append(y * size + x)
        right -= 2
    count = len(order)
    mask = bytes(int((p // size + p % size) % 3 == 0) for p in order)
    position = {p: k for k, p in enumerate(order)}
    index = [position.get(p, count + p) for p in range(size * size)]
    gather = operator.itemgetter(*index)
    return gather, count, int.from_bytes(mask, "big"), bytes(grid)


def _codewords(data: bytes, version: int) -> bytes:
    capacity = _capacity(version)
    count_bits = 8 if version < 10 else 16
    bits = 4 + count_bits + 8 * len(data)
    value = (0b0100 << count_bits | len(data)) << 8 * len(data) | int.from_bytes(data, "big")
    terminator = min(4, 8 * capacity - bits)
    value <<= terminator
    bits += terminator
    value <<= -bits % 8  # zero bits to the byte boundary
    body = value.to_bytes((bits + 7) // 8, "big")
    pad = (b"\xec\x11" * capacity)[: capacity - len(body)]
    stream = body + pad
    blocks, ecc, offset = [], [], 0
    for data_len, ecc_len in _blocks(version):
        chunk = stream[offset : offset + data_len]
        offset += data_len
        blocks.append(chunk)
        ecc.append(_rs_remainder(chunk, ecc_len))
    longest = max(len(b) for b in blocks)
    out = bytearray()
    for i in range(longest):
        out.extend(b[i] for b in blocks if i < len(b))
    for i in range(len(ecc[0])):
        out.extend(e[i] for e in ecc)
    return bytes(out)


def encode_matrix(text: str) -> tuple[int, list[bytes]]:
    """Encode ASCII `text`; return (version, rows of 0/1 bytes without quiet zone).

    Raises:
        ValueError: non-ASCII text or too long for version 40 at level M.
    """
    data = text.encode("ascii")  # UnicodeEncodeError is a ValueError
    version = version_for(len(data))
    gather, count, mask, template = _layout(version)
    bits = b"".join([_BIT_ROWS[c] for c in _codewords(data, version)])
    bits = bits.ljust(count, b"\x00")  # remainder bits, masked like data
    stream = (int.from_bytes(bits, "big") ^ mask).to_bytes(count, "big")
    flat = bytes(gather(stream + template))
    size = 17 + 4 * version
    return version, [flat[r * size : (r + 1) * size] for r in range(size)]
