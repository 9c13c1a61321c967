"""Status lists as Redis keeps them (BITFIELD u2) and as the IETF Token Status List
packs them."""

from __future__ import annotations

__all__ = ["redis_to_ietf"]


def _pairs_reversed(byte: int) -> int:
    # BITFIELD u2 #i puts entry i at bits 2i, 2i+1 counted from the most significant bit
    # of the string, high bit first; the IETF list wants entry i of a byte at bits 2i,
    # 2i+1 from the least significant bit, low bit first. Within one byte that is the
    # order of the four 2-bit pairs reversed, each pair kept as it is.
    return (
        ((byte >> 6) & 3) | (((byte >> 4) & 3) << 2) | (((byte >> 2) & 3) << 4) | ((byte & 3) << 6)
    )


_TABLE = bytes(_pairs_reversed(b) for b in range(256))


def redis_to_ietf(raw: bytes) -> bytes:
    """Redis BITFIELD u2 layout to the IETF Token Status List packing (and back: the
    translation is its own inverse)."""
    return raw.translate(_TABLE)
