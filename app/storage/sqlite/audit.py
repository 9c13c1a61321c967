"""The hash-chained audit log in SQLite: append (inside a caller's transaction), reads,
and the drops of what `audit archive` moved out (the signed checkpoints kept beside it
are `checkpoints`).

`action` and `subject` are copies of event fields kept as columns for the verification
index; the hash covers the event bytes they are copied from, and `audit verify` checks
that every copy agrees with them. Answers are built from the hashed bytes only.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from app.audit.format import covered_event, record_hash
from app.domain.events import GENESIS_HASH, decode_event, encode_event
from app.domain.records import AuditEvent, AuditRecord, AuditTrim, StoredAudit
from app.storage._common import AUDIT_CHAIN
from app.storage.sqlite.schema import CHECK_BUCKET
from app.storage.sqlite.tx import immediate

__all__ = [
    "append_audit",
    "append_audit_tx",
    "archived",
    "audit_heads",
    "audit_page",
    "stored_page",
    "trim_archived",
    "verifications_for",
]

log = logging.getLogger("statuspass.audit")


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
        (
            AUDIT_CHAIN,
            seq,
            data,
            prev,
            record_hash(AUDIT_CHAIN, seq, prev, data),
            event.action,
            event.subject,
        ),
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
    return [
        AuditRecord(chain=r.chain, seq=r.seq, event=decode_event(r.data), prev=r.prev, hash=r.hash)
        for r in stored_page(conn, after, limit)
    ]


def stored_page(conn: sqlite3.Connection, after: tuple[str, int], limit: int) -> list[StoredAudit]:
    """`audit_page` as stored: the exact bytes and the columns copied from them."""
    rows = conn.execute(
        "SELECT chain, seq, event, prev, hash, action, subject FROM audit"
        " WHERE (chain, seq) > (?, ?) ORDER BY chain, seq LIMIT ?",
        (after[0], after[1], limit),
    ).fetchall()
    return [
        StoredAudit(
            chain=str(chain),
            seq=int(seq),
            prev=str(prev),
            hash=str(digest),
            data=bytes(data),
            columns=(("action", action), ("subject", subject)),
        )
        for chain, seq, data, prev, digest, action, subject in rows
    ]


def audit_heads(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """Every chain's (records, hash of its last record)."""
    rows = conn.execute(
        "SELECT a.chain, a.seq, a.hash FROM audit AS a"
        " JOIN (SELECT chain, MAX(seq) AS seq FROM audit GROUP BY chain) AS m"
        " ON a.chain = m.chain AND a.seq = m.seq"
    ).fetchall()
    return {str(chain): (int(seq), str(digest)) for chain, seq, digest in rows}


def verifications_for(conn: sqlite3.Connection, subject: str, limit: int) -> list[AuditEvent]:
    """Verification and card-check events about `subject`, newest (highest seq) first,
    each one read from bytes its hash covers (a record that fails is left out and
    reported: `audit verify` says where)."""
    lo, hi = _check_buckets(conn)
    # each time bucket of the window is one probe of audit_checks (bucket, subject); the
    # expressions and the action list are spelled exactly as in the index, so the
    # planner uses it
    rows = conn.execute(_CHECKS_OF, (hi, lo, LEGACY_BUCKET, subject, limit)).fetchall()
    events = []
    for chain, seq, data, prev, digest in rows:
        event = covered_event(
            str(chain), int(seq), str(prev), str(digest), bytes(data), subject=subject
        )
        if event is None:
            log.error("audit record %s/%s fails its hash (see `audit verify`)", chain, seq)
            continue
        events.append(event)
    return events


#: a citizen's checks, newest first, one probe of audit_checks per bucket from ?1 down to
#: ?2 and the legacy one (the bucket spelled as `schema.CHECK_BUCKET`)
_CHECKS_OF = (
    "WITH RECURSIVE b(k) AS (SELECT ?1 UNION ALL SELECT k - 1 FROM b WHERE k > ?2),"
    " w(h) AS (SELECT printf('%08X', k) FROM b WHERE ?1 >= ?2 UNION ALL SELECT ?3)"
    " SELECT chain, seq, event, prev, hash FROM w CROSS JOIN audit"
    " WHERE hex(substr(event, 3, 4)) = w.h AND subject = ?4"
    " AND action IN ('verify', 'card_check')"
    " ORDER BY seq DESC LIMIT ?5"
)

#: the bucket of every event stored as JSON by earlier releases: `{"at":…`
LEGACY_BUCKET = b'at":'.hex().upper()


#: buckets probed at most for one citizen (~13.7 years of ~72 minutes; ~80 ms): a store
#: holding more without archiving, or a check dated far ahead by a wrong clock, has only
#: the newest this many of its buckets listed
MAX_BUCKETS = 100_000


def _check_buckets(conn: sqlite3.Connection) -> tuple[int, int]:
    """The first and last time bucket holding a check in the packed form (the time a
    uint64 after the array header: every event written since schema 6), as integers;
    (0, -1) when there is none: two reads of the ends of audit_checks. At most
    `MAX_BUCKETS` apart."""
    ends = []
    for order in ("", " DESC"):
        row = conn.execute(
            f"SELECT {CHECK_BUCKET} AS k FROM audit"  # noqa: S608
            " WHERE action IN ('verify', 'card_check') AND k < ?"
            " AND substr(event, 2, 1) = x'CF' AND length(event) >= 10"
            f" ORDER BY k{order} LIMIT 1",
            (LEGACY_BUCKET,),
        ).fetchone()
        if row is None:
            return 0, -1
        ends.append(int(row[0], 16))
    return max(ends[0], ends[1] - MAX_BUCKETS + 1), ends[1]


def archived(conn: sqlite3.Connection) -> dict[str, tuple[int, str, int]]:
    """chain -> (records archived, hash of the last one, archive date in µs)."""
    rows = conn.execute("SELECT chain, upto, hash, before_us FROM audit_archived").fetchall()
    return {str(c): (int(u), str(h), int(b)) for c, u, h, b in rows}


#: at most this many records dropped per write transaction by `trim_archived`. One
#: DELETE of a whole run (10^6 records) held the write lock for seconds: every write of
#: the service waited for it, and those past the busy timeout failed
#: (`bench/archive_latency.py`).
TRIM_BATCH = 10_000
#: how long one trim transaction holds the write lock while the service writes too
#: (what a write of the service may wait for it)
TRIM_HOLD_S = 0.008
#: the pause after each trim transaction, in which writers waiting for the lock take it
#: (without it the trim takes the lock back at once and a waiting writer, which polls,
#: rarely finds it free)
TRIM_GAP_S = 0.002
#: records in the first trim transaction
TRIM_FIRST = 500


def trim_archived(conn: sqlite3.Connection, trim: AuditTrim) -> bool:
    """Drop records 1..`upto` of `chain` (now in an archive segment on disk), only if the
    record at `upto` is still the one archived (hash `digest`). Done already: True.

    The records go in transactions of their own, each one recording how far the chain is
    archived (its last record's hash): between two of them, and after a crash, the store
    is a chain archived up to there, which a re-run continues. After each one the lock is
    left free for `TRIM_GAP_S`; while others write meanwhile, a transaction drops what
    fits in `TRIM_HOLD_S` (at the pace of the one before); with no one else writing they
    grow to `TRIM_BATCH` (each drop rewrites the pages of the verification index it
    touches, so few large transactions cost far less than many small ones)."""
    chain, upto, digest, before_us = trim.chain, trim.upto, trim.digest, trim.before_us
    with immediate(conn):
        done = _archived_upto(conn, chain)
        if done >= upto:
            return True
        if _hash_at(conn, chain, upto) != digest:
            return False
    size = min(TRIM_FIRST, TRIM_BATCH)
    while done < upto:
        whole = done + size <= upto
        step = min(done + size, upto)
        started = time.perf_counter()
        with immediate(conn):
            if _archived_upto(conn, chain) != done:
                return _archived_upto(conn, chain) >= upto  # another run trims it
            last = _hash_at(conn, chain, step)
            if last is None or (step == upto and last != digest):
                return False
            conn.execute("DELETE FROM audit WHERE chain = ? AND seq <= ?", (chain, step))
            conn.execute(
                "INSERT OR REPLACE INTO audit_archived (chain, upto, hash, before_us)"
                " VALUES (?, ?, ?, ?)",
                (chain, step, last, before_us),
            )
        held = time.perf_counter() - started
        done = step
        if done < upto:
            version = _data_version(conn)
            time.sleep(TRIM_GAP_S)
            busy = _data_version(conn) != version  # another connection committed meanwhile
            if whole:  # a whole transaction: its pace tells the next size
                size = _next_size(size, held, busy=busy)
    return True


def _next_size(size: int, held_s: float, *, busy: bool) -> int:
    """Records for the next trim transaction: with others writing, what fits in
    `TRIM_HOLD_S` at the pace of the last one (growing at most twofold); alone, twice as
    many. At most `TRIM_BATCH`."""
    if not busy:
        return min(2 * size, TRIM_BATCH)
    fits = int(size * TRIM_HOLD_S / max(held_s, 1e-6))
    return max(1, min(fits, 2 * size, TRIM_BATCH))


def _data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever another connection commits to the database (not on our own)."""
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


def _archived_upto(conn: sqlite3.Connection, chain: str) -> int:
    row = conn.execute("SELECT upto FROM audit_archived WHERE chain = ?", (chain,)).fetchone()
    return 0 if row is None else int(row[0])


def _hash_at(conn: sqlite3.Connection, chain: str, seq: int) -> str | None:
    sql = "SELECT hash FROM audit WHERE chain = ? AND seq = ?"
    row = conn.execute(sql, (chain, seq)).fetchone()
    return None if row is None else str(row[0])
