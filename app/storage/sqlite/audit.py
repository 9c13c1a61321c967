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
    """Every chain's (records, hash of its last record), a chain whose records are all
    archived too (a checkpoint that left it out would say it shrank)."""
    rows = conn.execute(
        "SELECT a.chain, a.seq, a.hash FROM audit AS a"
        " JOIN (SELECT chain, MAX(seq) AS seq FROM audit GROUP BY chain) AS m"
        " ON a.chain = m.chain AND a.seq = m.seq"
    ).fetchall()
    heads = {str(chain): (int(seq), str(digest)) for chain, seq, digest in rows}
    for chain, upto, digest in conn.execute("SELECT chain, upto, hash FROM audit_archived"):
        heads.setdefault(str(chain), (int(upto), str(digest)))
    return heads


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
#: while others write, how long a trim transaction may hold the write lock, its commit
#: included: what a write of the service may wait for it
TRIM_HOLD_S = 0.002
#: while others write, records dropped per DELETE inside a trim transaction, so the
#: transaction ends close to `TRIM_HOLD_S` (a transaction sized from the pace of the one
#: before ran 2-8x over whenever the machine was busy)
TRIM_STEP = 32
#: after a trim transaction, while others write, the trim waits for one of them to
#: commit (so a writer kept from the CPU does not miss its turn), trying every
#: `TRIM_POLL_S`, for at most `TRIM_TURN_S`
TRIM_POLL_S = 0.0005
TRIM_TURN_S = 0.02
#: alone, the pause after each trim transaction
TRIM_GAP_S = 0.002
#: a trim runs alone (larger transactions, no waiting for turns) once no one else has
#: committed for this long
TRIM_QUIET_S = 1.0
#: records in the first trim transaction when no one else writes
TRIM_FIRST = 500


def trim_archived(conn: sqlite3.Connection, trim: AuditTrim) -> bool:
    """Drop records 1..`upto` of `chain` (now in an archive segment on disk), only if the
    record at `upto` is still the one archived (hash `digest`). Done already: True.

    The records go in transactions of their own, each one recording how far the chain is
    archived (its last record's hash): between two of them, and after a crash, the store
    is a chain archived up to there, which a re-run continues. While others write, the
    two take turns: a transaction drops `TRIM_STEP` records at a time until it has held
    the lock `TRIM_HOLD_S` (its commit, as long as the last one's, included), then waits
    until another connection has committed. With no one else writing, transactions grow
    to `TRIM_BATCH` with a short pause between them (each drop rewrites the pages of the
    verification index it touches, so few large transactions cost far less than many
    small ones)."""
    chain, upto, digest, before_us = trim.chain, trim.upto, trim.digest, trim.before_us
    with immediate(conn):
        done = _archived_upto(conn, chain)
        if done >= upto:
            return True
        if _hash_at(conn, chain, upto) != digest:
            return False
    size, busy, commit_s = TRIM_FIRST, True, 0.0  # busy until no one else writes a while
    quiet_since = time.monotonic()
    while done < upto:
        try:
            with immediate(conn):
                started = time.perf_counter()
                if _archived_upto(conn, chain) != done:
                    return _archived_upto(conn, chain) >= upto  # another run trims it
                if _hash_at(conn, chain, upto) != digest:
                    return False  # nothing dropped in this transaction yet
                budget = TRIM_HOLD_S - commit_s if busy else None
                step, last = _drop(conn, chain, done, upto, TRIM_STEP if busy else size,
                                   started, hold_s=budget)  # fmt: skip
                conn.execute(
                    "INSERT OR REPLACE INTO audit_archived (chain, upto, hash, before_us)"
                    " VALUES (?, ?, ?, ?)",
                    (chain, step, last, before_us),
                )
                dropped = time.perf_counter()
        except _Gap:
            return False  # rolled back: the chain lacks a record it had when archived
        commit_s = time.perf_counter() - dropped
        whole = not busy and step - done == size
        done = step
        if done < upto:
            if _await_turn(conn, TRIM_TURN_S if busy else TRIM_GAP_S):
                quiet_since = time.monotonic()
            busy = time.monotonic() - quiet_since < TRIM_QUIET_S
            if whole:
                size = min(2 * size, TRIM_BATCH)
            elif busy:
                size = TRIM_FIRST  # when the others stop, start small again
    return True


def _await_turn(conn: sqlite3.Connection, wait_s: float) -> bool:
    """Leave the write lock free until another connection commits (True) or `wait_s`
    has passed (False)."""
    version = _data_version(conn)
    deadline = time.monotonic() + wait_s
    while True:
        time.sleep(min(TRIM_POLL_S, wait_s))
        if _data_version(conn) != version:
            return True
        if time.monotonic() >= deadline:
            return False


class _Gap(Exception):
    """A record of the run to drop is missing (the transaction is rolled back)."""


def _drop(
    conn: sqlite3.Connection,
    chain: str,
    done: int,
    upto: int,
    step: int,
    started: float,
    *,
    hold_s: float | None,
) -> tuple[int, str]:
    """Drop records done+1.. of `chain`, `step` at a time, up to `upto`; with `hold_s`,
    stop once the transaction (begun at `started`) has held the lock that long (after
    one step at least), else after one step. Returns the last record dropped and its hash."""
    at, last = done, ""
    while at < upto:
        end = min(at + step, upto)
        found = _hash_at(conn, chain, end)
        if found is None:
            raise _Gap(end)
        conn.execute("DELETE FROM audit WHERE chain = ? AND seq <= ?", (chain, end))
        at, last = end, found
        if hold_s is None or time.perf_counter() - started >= hold_s:
            break
    return at, last


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
