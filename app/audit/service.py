"""Signing checkpoints of the audit log, and exporting it.

The log is hash-chained (`format`); a chain alone cannot show that its tail was cut
or that it was rewritten with recomputed hashes. So the service regularly signs a
checkpoint (`checkpoints`) of every chain's length and last hash with the audit key and
keeps it in the store; witnesses keep copies. `verify` holds the log against them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.checkpoints import Checkpoint, note_hash, sign_note
from app.audit.verify import AuditReport, verify_audit
from app.domain.ports import Store

__all__ = ["AuditReport", "export_audit", "sign_checkpoint", "verify_audit"]


async def sign_checkpoint(
    store: Store, name: str, private: Ed25519PrivateKey, now: datetime, *, force: bool = False
) -> bytes | None:
    """Sign and keep a checkpoint of the log as it is now; return its note.

    None when nothing was appended since the last checkpoint (unless `force`), or when
    another worker kept one at the same moment (its checkpoint serves as well).
    """
    count, last = await store.latest_checkpoint()
    heads = {chain: head for chain, head in (await store.audit_heads()).items() if head[0] > 0}
    previous = None if last is None else note_hash(last)
    if last is not None and not force and _lanes_of(last) == heads:
        return None
    checkpoint = Checkpoint(origin=name, time=now, previous=previous, lanes=heads)
    note = sign_note(checkpoint, name, private)
    return note if await store.add_checkpoint(note, count) else None


def _lanes_of(note: bytes) -> dict[str, tuple[int, str]]:
    """The lanes of our own last note, read without checking its signature (only used
    to skip signing an unchanged log; `audit verify` checks every note)."""
    lanes: dict[str, tuple[int, str]] = {}
    for line in note.decode("utf-8", "replace").split("\n"):
        parts = line.split(" ")
        if len(parts) == 4 and parts[0] == "lane" and parts[2].isdigit():
            lanes[parts[1]] = (int(parts[2]), parts[3])
    return lanes


async def export_audit(store: Store, write: Callable[[bytes], object]) -> int:
    """Write every record as one JSON line; return the count."""
    enc = msgspec.json.Encoder()
    count = 0
    async for rec in store.iter_audit():
        write(enc.encode(rec) + b"\n")
        count += 1
    return count
