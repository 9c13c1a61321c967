"""Helpers every store shares: time keys, rate windows, status-list ids and packing.

Kept free of any backend so the Redis stores compute exactly the same keys and bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from app.audit.format import VERIFICATION_ACTIONS
from app.domain.dates import to_us
from app.domain.ports import CODE_HOLD_S, STATUS_LIST_SIZE

__all__ = [
    "AUDIT_CHAIN",
    "CHECK_RETENTION_S",
    "CODE_HOLD_US",
    "MAX_LIST_ID",
    "PROOF_GRACE_S",
    "RATE_GRACE_S",
    "STATUS_BYTES",
    "VERIFICATION_ACTIONS",
    "canonical_list_id",
    "pack_status_list",
    "to_us",
    "window_start",
]

#: the one audit chain; `AuditRecord.chain` leaves room for more (e.g. one per shard)
AUDIT_CHAIN = "main"
#: bytes of one packed status list: 2 bits per entry
STATUS_BYTES = STATUS_LIST_SIZE // 4
#: expired proofs are kept this long, so a late check (clock skew, retries) can still
#: name the subject in its audit event, and at least as long as their codes are held
#: (the answer to an expired code is read from its proof)
PROOF_GRACE_S = max(86_400, CODE_HOLD_S)
#: the hold in µs, as the stores compare it with their µs timestamps
CODE_HOLD_US = CODE_HOLD_S * 1_000_000
#: check rows are kept this long beyond the "seen" window: nothing reads them after that,
#: because a proof never lives that long
CHECK_RETENTION_S = 86_400
#: rate windows are kept this long after they end, in case workers' clocks disagree
RATE_GRACE_S = 3_600
#: the largest status-list id: SQLite's largest INTEGER. A larger one in a URL used to
#: reach the query and fail there (`OverflowError`, a 500); it names no list of ours.
MAX_LIST_ID = 2**63 - 1


def window_start(now: datetime, window_s: int) -> int:
    """Start (epoch seconds) of the fixed rate window of `window_s` seconds holding `now`."""
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    epoch_s = to_us(now) // 1_000_000
    return epoch_s // window_s * window_s


def canonical_list_id(list_id: str) -> int | None:
    """The integer behind a status-list id ("1", "2", …), or None if it is not one of ours.

    Only the canonical spelling counts, so "01" or " 1" never alias list "1"; ids past
    `MAX_LIST_ID` are nobody's, whatever the store.
    """
    if len(list_id) > 19 or not list_id.isascii() or not list_id.isdigit():
        return None
    number = int(list_id)
    if not 1 <= number <= MAX_LIST_ID or str(number) != list_id:
        return None
    return number


def pack_status_list(entries: Iterable[tuple[int, int]]) -> bytes:
    """Pack (index, status) pairs as the IETF Token Status List wants, 2 bits per entry.

    Entry i lives in byte i // 4, at bit 2 * (i % 4) counted from the least significant
    bit. Entries not given are 0 (valid, or never allocated).

    Args:
        entries: (index, status) pairs, each index at most once, status in 0..3.
    """
    buf = bytearray(STATUS_BYTES)
    for idx, status in entries:
        buf[idx >> 2] |= (status & 3) << ((idx & 3) << 1)
    return bytes(buf)
