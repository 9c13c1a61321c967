"""The hash-chained audit log in SQLite: append (inside a caller's transaction) and reads."""

from __future__ import annotations

import sqlite3

import msgspec

from app.domain.records import (
    GENESIS_HASH,
    AuditEvent,
    AuditRecord,
    chain_hash,
    encode_event,
)
from app.storage._common import AUDIT_CHAIN
from app.storage.sqlite_db import immediate

__all__ = ["append_audit", "append_audit_tx", "audit_page", "verifications_for"]

_event_decoder = msgspec.json.Decoder(AuditEvent)


def append_audit_tx(conn: sqlite3.Connection, event: AuditEvent) -> None:
    """Append `event` to the chain; the caller holds a BEGIN IMMEDIATE transaction.

    The head is read and the new record written under the same write lock, so two
    processes can never both extend the same head (and the (chain, seq) primary key would
    refuse it if they tried).
    """
    if not conn.in_transaction:
        raise RuntimeError("append_audit_tx needs the caller's write transaction")
    row = conn.execute(
        "SELECT seq, hash FROM audit WHERE chain = ? ORDER BY seq DESC LIMIT 1",
        (AUDIT_CHAIN,),
    ).fetchone()
    seq, prev = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS_HASH)
    # the exact bytes hashed are the bytes stored: verification recomputes from them
    data = encode_event(event)
    conn.execute(
        "INSERT INTO audit (chain, seq, event, prev, hash, action, subject)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (AUDIT_CHAIN, seq, data, prev, chain_hash(prev, data), event.action, event.subject),
    )


def append_audit(conn: sqlite3.Connection, event: AuditEvent) -> None:
    """Append `event` in a transaction of its own."""
    with immediate(conn):
        append_audit_tx(conn, event)


def audit_page(conn: sqlite3.Connection, after: tuple[str, int], limit: int) -> list[AuditRecord]:
    """Up to `limit` records after (chain, seq) `after`, in chain then sequence order.

    Keyset pagination on the primary key: each page is one index range scan, however far
    into the log we are (OFFSET would rescan everything before it).
    """
    rows = conn.execute(
        "SELECT chain, seq, event, prev, hash FROM audit"
        " WHERE (chain, seq) > (?, ?) ORDER BY chain, seq LIMIT ?",
        (after[0], after[1], limit),
    ).fetchall()
    return [
        AuditRecord(chain=chain, seq=seq, event=_event_decoder.decode(data), prev=prev, hash=digest)
        for chain, seq, data, prev, digest in rows
    ]


def verifications_for(conn: sqlite3.Connection, subject: str, limit: int) -> list[AuditEvent]:
    """Verification and card-check events about `subject`, newest (highest seq) first."""
    # the action list is spelled literally, exactly as in the partial index's WHERE, so
    # the planner can use audit_verifications
    rows = conn.execute(
        "SELECT event FROM audit WHERE subject = ? AND action IN ('verify', 'card_check')"
        " ORDER BY seq DESC LIMIT ?",
        (subject, limit),
    ).fetchall()
    return [_event_decoder.decode(data) for (data,) in rows]
