"""Checking and exporting the hash-chained audit log.

Each record's hash covers the previous record's hash and the record's own canonical
bytes, so an edited, deleted, inserted or reordered record breaks the chain at that point.
Truncating the tail cannot be seen from the chain alone: an operator who needs that
anchors the head hash elsewhere (`audit verify` prints it).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from app.domain.ports import Store
from app.domain.records import GENESIS_HASH, AuditRecord, chain_hash, encode_event

__all__ = ["ChainReport", "export_audit", "verify_audit"]


class ChainReport(msgspec.Struct, kw_only=True):
    ok: bool
    records: int
    chains: dict[str, str]  # chain -> head hash
    problem: str | None = None


async def verify_audit(store: Store, progress: Callable[[int], None] | None = None) -> ChainReport:
    heads: dict[str, tuple[int, str]] = {}
    count = 0
    async for rec in store.iter_audit():
        count += 1
        seq, prev = heads.get(rec.chain, (0, GENESIS_HASH))
        problem = _check(rec, seq, prev)
        if problem:
            return ChainReport(
                ok=False,
                records=count,
                problem=problem,
                chains={c: h for c, (_, h) in heads.items()},
            )
        heads[rec.chain] = (rec.seq, rec.hash)
        if progress and count % 10_000 == 0:
            progress(count)
    return ChainReport(ok=True, records=count, chains={c: h for c, (_, h) in heads.items()})


def _check(rec: AuditRecord, seq: int, prev: str) -> str | None:
    where = f"chain {rec.chain!r} record {rec.seq}"
    if rec.seq != seq + 1:
        return f"{where}: expected record {seq + 1} (a record was deleted or moved)"
    if rec.prev != prev:
        return f"{where}: does not link to the record before it"
    if chain_hash(rec.prev, encode_event(rec.event)) != rec.hash:
        return f"{where}: its content does not match its hash (edited)"
    return None


async def export_audit(store: Store, write: Callable[[bytes], object]) -> int:
    """Write every record as one JSON line; return the count."""
    enc = msgspec.json.Encoder()
    count = 0
    async for rec in store.iter_audit():
        write(enc.encode(rec) + b"\n")
        count += 1
    return count
