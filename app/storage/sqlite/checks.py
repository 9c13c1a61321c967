"""SQLite operations on proofs and numeric codes, online checks and rate counters.

Expired rows are purged opportunistically by the writes that create such rows, a bounded
number at a time, so no write ever pays for a large backlog and no cron job is needed.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime

import msgspec

from app.domain.records import (
    AuditEvent,
    CheckOutcome,
    CheckRequest,
    Entitlement,
    ProofRecord,
    Seen,
)
from app.errors import EntitlementMoved
from app.storage._common import (
    CHECK_RETENTION_S,
    CODE_HOLD_US,
    PROOF_GRACE_S,
    RATE_GRACE_S,
    to_us,
    window_start,
)
from app.storage._lean import decode_entitlement, decode_proof, encode_proof
from app.storage.sqlite.audit import append_audit_tx
from app.storage.sqlite.records import read_status_tx
from app.storage.sqlite.tx import immediate

__all__ = [
    "check_and_record",
    "get_proof_by_code",
    "hit_rate",
    "rate_count",
    "save_proof",
    "undo_hit",
]

#: rows deleted at most per purge: bounded work per write
_PURGE_BATCH = 100
#: purge on one write in this many: a purge of up to _PURGE_BATCH rows each time still
#: outpaces any realistic rate of expiry, and the other writes skip two statements
_PURGE_EVERY = 32
_writes = itertools.count()


def _purge_now() -> bool:
    return next(_writes) % _PURGE_EVERY == 0


_encoder = msgspec.json.Encoder()


# -- proofs and codes -------------------------------------------------------------------
def save_proof(
    conn: sqlite3.Connection,
    proof: ProofRecord,
    code: str | None,
    audit: AuditEvent,
    basis: Entitlement | None = None,
) -> bool:
    """Store the proof, its code and the audit event; False and nothing written if the
    code is held by a proof that has not expired, or expired less than `CODE_HOLD_S` ago;
    `EntitlementMoved` and nothing written if the entitlement is not at `basis`'s version.

    "Now" is the proof's `issued_at`: the store never reads the clock itself.
    """
    now_us = to_us(proof.issued_at)
    row = (proof.jti, proof.subject, to_us(proof.expires_at), code, encode_proof(proof))
    with immediate(conn):
        if basis is not None:
            held = conn.execute(
                "SELECT version, data FROM entitlements WHERE type = ? AND subject = ?",
                (proof.type, proof.subject),
            ).fetchone()
            if held is None or held[0] != basis.version:
                raise EntitlementMoved(None if held is None else decode_entitlement(held[1]))
        try:
            conn.execute(_SAVE_PROOF, row)
        except sqlite3.IntegrityError:
            if code is None:
                raise
            # the code is held by another proof (1 chance in 10^10 per held code): a
            # holder past its hold gives it up, any other keeps it and the caller draws
            # again
            freed = conn.execute(
                "UPDATE proofs SET code = NULL WHERE code = ? AND expires_us <= ?",
                (code, now_us - CODE_HOLD_US),
            ).rowcount
            if not freed:
                return False
            conn.execute(_SAVE_PROOF, row)
        append_audit_tx(conn, audit)
        if _purge_now():
            _purge_proofs(conn, now_us)
    return True


_SAVE_PROOF = (
    "INSERT INTO proofs (jti, subject, expires_us, code, data) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (jti) DO UPDATE SET subject = excluded.subject,"
    " expires_us = excluded.expires_us, code = excluded.code, data = excluded.data"
)


def _purge_proofs(conn: sqlite3.Connection, now_us: int) -> None:
    # proofs outlive their expiry by a grace period (late checks still find the
    # subject, an expired code still finds its proof); their codes go with them, or to
    # a new proof that draws one once it is no longer held
    conn.execute(
        "DELETE FROM proofs WHERE jti IN (SELECT jti FROM proofs WHERE expires_us <= ? LIMIT ?)",
        (now_us - PROOF_GRACE_S * 1_000_000, _PURGE_BATCH),
    )


def get_proof_by_code(conn: sqlite3.Connection, code: str, now: datetime) -> ProofRecord | None:
    """The proof holding `code` at `now` (live, or expired less than `CODE_HOLD_S` ago);
    None when no proof holds it."""
    row = conn.execute(
        "SELECT data FROM proofs WHERE code = ? AND expires_us > ?",
        (code, to_us(now) - CODE_HOLD_US),
    ).fetchone()
    return decode_proof(row[0]) if row else None


# -- online checks ----------------------------------------------------------------------
def check_and_record(conn: sqlite3.Connection, check: CheckRequest) -> CheckOutcome:
    """Read the status, count the check and append the chosen audit event, atomically.

    One write transaction, so two workers checking the same `jti` at the same moment are
    counted one after the other: each sees the other's check, never neither.
    """
    jti, subject = check.jti, check.subject
    now_us = to_us(check.now)
    with immediate(conn):
        status = read_status_tx(conn, check.ref)
        event = check.audit_by_status.get(status, check.audit_by_status[-1])
        if event.subject is None:
            # the proof registry is what we recorded at issuance: it comes first; the
            # caller's subject (e.g. a card's owner) only when the jti is unknown
            known = _proof_subject(conn, jti) if jti is not None else None
            filled = known if known is not None else subject
            if filled is not None:
                event = msgspec.structs.replace(event, subject=filled)
        seen: Seen | None = None
        if jti is not None:
            seen = _count_check(conn, jti, check.org, now_us, check.seen_window_s)
        append_audit_tx(conn, event)
    return CheckOutcome(status, seen)


def _count_check(conn: sqlite3.Connection, jti: str, org: str, now_us: int, window_s: int) -> Seen:
    """The counts before this check, then this check counted: a counter per jti and a
    row per (jti, organisation), so the cost does not grow with the number of checks."""
    ((after,),) = conn.execute(
        "INSERT INTO seen_jti (jti, count, last_us) VALUES (?, 1, ?)"
        " ON CONFLICT (jti) DO UPDATE SET count = count + 1, last_us = excluded.last_us"
        " RETURNING count",
        (jti, now_us),
    ).fetchall()
    (orgs,) = conn.execute(
        "SELECT COUNT(*) FROM seen_org WHERE jti = ? AND last_us >= ?",
        (jti, now_us - window_s * 1_000_000),
    ).fetchone()
    conn.execute(
        "INSERT INTO seen_org (jti, org, last_us) VALUES (?, ?, ?)"
        " ON CONFLICT (jti, org) DO UPDATE SET last_us = excluded.last_us",
        (jti, org, now_us),
    )
    # a proof lives minutes (a parking card's years, but it is checked rarely): counters
    # untouched for the window plus a day are never read again; the index probe finds
    # nothing to delete in the common case
    if not _purge_now():
        return Seen(int(after) - 1, int(orgs))
    cutoff = now_us - (window_s + CHECK_RETENTION_S) * 1_000_000
    conn.execute(
        "DELETE FROM seen_jti WHERE jti IN (SELECT jti FROM seen_jti WHERE last_us < ? LIMIT ?)",
        (cutoff, _PURGE_BATCH),
    )
    conn.execute(
        "DELETE FROM seen_org WHERE (jti, org) IN"
        " (SELECT jti, org FROM seen_org WHERE last_us < ? LIMIT ?)",
        (cutoff, _PURGE_BATCH),
    )
    return Seen(int(after) - 1, int(orgs))


def _proof_subject(conn: sqlite3.Connection, jti: str) -> str | None:
    row = conn.execute("SELECT subject FROM proofs WHERE jti = ?", (jti,)).fetchone()
    return str(row[0]) if row else None


# -- rate limits ------------------------------------------------------------------------
def hit_rate(conn: sqlite3.Connection, key: str, window_s: int, now: datetime) -> int:
    """Count one hit in the fixed window holding `now`; the count including it.

    A single UPSERT … RETURNING under the write lock: concurrent hits from any number of
    processes each get a distinct count.
    """
    start = window_start(now, window_s)
    with immediate(conn):
        ((count,),) = conn.execute(
            "INSERT INTO rate_hits (key, window_start, expires, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1"
            " RETURNING count",
            (key, start, start + window_s),
        ).fetchall()
        if _purge_now():
            conn.execute(
                "DELETE FROM rate_hits WHERE (key, window_start) IN"
                " (SELECT key, window_start FROM rate_hits WHERE expires < ? LIMIT ?)",
                (start - RATE_GRACE_S, _PURGE_BATCH),
            )
    return int(count)


def undo_hit(conn: sqlite3.Connection, key: str, window_s: int, now: datetime) -> None:
    """Take back one hit of the window holding `now` (never below zero)."""
    with immediate(conn):
        conn.execute(
            "UPDATE rate_hits SET count = count - 1"
            " WHERE key = ? AND window_start = ? AND count > 0",
            (key, window_start(now, window_s)),
        )


def rate_count(conn: sqlite3.Connection, key: str, window_s: int, now: datetime) -> int:
    """The count in the window holding `now`, without counting a hit."""
    row = conn.execute(
        "SELECT count FROM rate_hits WHERE key = ? AND window_start = ?",
        (key, window_start(now, window_s)),
    ).fetchone()
    return int(row[0]) if row else 0
