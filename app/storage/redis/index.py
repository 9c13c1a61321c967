"""The citizens' verification index on Redis (GET /v1/me/verifications): where each
check of a subject is in the audit chains, newest first, capped at `VERIF_CAP`.

Kept in buckets (`Layout.index_key`): one hash field per subject (`subject_token`), its
value the entries packed newest first, each a byte of length and then:

    0x01, the chain's 8-byte id, its lane (a byte), the seq (big-endian, as few bytes
          as it takes)                  a chain `<label>/<16 hex>.<lane>` of this store,
                                        in the shard `label` of the index (~14 bytes)
    0x02, the seq's length (a byte), the seq, the chain's name in UTF-8   any other chain

An entry holds where the record is, not a copy of it: what a citizen is shown is read
from the chain, from bytes its hash covers. The scripts only prepend and count entries
(`scripts.HEAD`), or drop given ones (`scripts_plain.UNINDEX`, many buckets a call).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence

from app.storage.redis.conn import ScriptRunner
from app.storage.redis.keys import Layout, subject_token

__all__ = ["entries", "pointer", "pointers", "unindex"]

#: UNINDEX scripts sent at once (redis-server runs them one after the other; more in
#: flight keep the service's commands waiting behind them longer)
_IN_FLIGHT = 8
_OURS = re.compile(r"([0-9a-f]{16})\.(\d{1,3})")


def _seq_bytes(seq: int) -> bytes:
    return seq.to_bytes(max(1, (seq.bit_length() + 7) // 8), "big")


def pointer(label: str, chain: str, seq: int) -> bytes:
    """The index entry (its length byte included) of record `seq` of `chain`, kept in
    shard `label`."""
    return pointers(label, chain)(seq)


def pointers(label: str, chain: str) -> Callable[[int], bytes]:
    """`pointer` for many records of one chain: the chain's part is worked out once."""
    head, sep, rest = chain.partition("/")
    ours = _OURS.fullmatch(rest) if sep and head == label else None
    if ours is not None and int(ours[2]) < 256:
        before = b"\x01" + bytes.fromhex(ours[1]) + bytes([int(ours[2])])

        def one(seq: int) -> bytes:
            payload = before + _seq_bytes(seq)
            return bytes([len(payload)]) + payload

        return one
    name = chain.encode("utf-8")

    def other(seq: int) -> bytes:
        seq_raw = _seq_bytes(seq)
        payload = b"\x02" + bytes([len(seq_raw)]) + seq_raw + name
        if len(payload) > 255:
            raise ValueError(f"audit chain name too long for the verification index: {chain!r}")
        return bytes([len(payload)]) + payload

    return other


def entries(label: str, packed: bytes) -> list[tuple[str, int]]:
    """The (chain, seq) of each entry of a stored index value, newest first (an entry
    that is not one reads as ("?", 0))."""
    out: list[tuple[str, int]] = []
    at = 0
    while at < len(packed):
        stop = at + 1 + packed[at]
        payload = packed[at + 1 : stop]
        at = stop
        if payload[:1] == b"\x01" and len(payload) >= 11:
            chain = f"{label}/{payload[1:9].hex()}.{payload[9]}"
            out.append((chain, int.from_bytes(payload[10:], "big")))
        elif payload[:1] == b"\x02" and len(payload) >= 2 + payload[1]:
            cut = 2 + payload[1]
            try:
                chain = payload[cut:].decode("utf-8")
            except UnicodeDecodeError:
                out.append(("?", 0))
                continue
            out.append((chain, int.from_bytes(payload[2:cut], "big")))
        else:
            out.append(("?", 0))
    return out


async def unindex(
    layout: Layout,
    scripts: ScriptRunner,
    label: str,
    chain: str,
    checks: Sequence[tuple[str, int]],
    page: int,
) -> None:
    """Drop the entries of `checks` ((subject, seq) of records of `chain`) from the
    index of shard `label`: `page` subjects a script, whichever buckets they are in (the
    buckets of a shard share its slot). One script a bucket was one round trip, and one
    fsync, per check archived when the citizens are many: 2,300 records/s."""
    by_key: dict[str, dict[bytes, list[bytes]]] = {}
    entry = pointers(label, chain)
    for subject, seq in checks:
        fields = by_key.setdefault(layout.index_key(label, subject), {})
        fields.setdefault(subject_token(subject), []).append(entry(seq))
    calls: list[Awaitable[object]] = []
    keys: list[str] = []
    args: list[str | int | bytes] = []
    taken = 0
    for key, fields in by_key.items():
        items = list(fields.items())
        for start in range(0, len(items), page):
            part = items[start : start + page]
            if taken + len(part) > page:
                calls.append(scripts.run("UNINDEX", keys, args))
                keys, args, taken = [], [], 0
            keys.append(key)
            args.append(len(part))
            for field, gone in part:
                args += [field, b"".join(gone)]
            taken += len(part)
    if keys:
        calls.append(scripts.run("UNINDEX", keys, args))
    for start in range(0, len(calls), _IN_FLIGHT):
        await asyncio.gather(*calls[start : start + _IN_FLIGHT])
