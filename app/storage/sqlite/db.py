"""The SQLite connection: pragmas, schema (versioned with PRAGMA user_version), transactions.

Everything here runs on the store's single worker thread (see `app.storage.sqlite`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from app.errors import ConfigError
from app.storage._lean import (
    decode_card,
    decode_entitlement,
    decode_proof,
    encode_card,
    encode_entitlement,
    encode_proof,
)

__all__ = [
    "LOOP_AUTOCHECKPOINT_PAGES",
    "SCHEMA_VERSION",
    "Synchronous",
    "checkpoint",
    "connect",
    "connect_loop_writer",
    "connect_reader",
    "immediate",
    "run_group",
]

#: how long a group commit on the event loop's thread may wait for the write lock
LOOP_LOCK_WAIT_S = 0.005
#: WAL pages after which a commit on the loop's thread checkpoints by itself (and so
#: lets the next write start the WAL afresh); the copying is done off the loop before
LOOP_AUTOCHECKPOINT_PAGES = 16_384

SCHEMA_VERSION = 6

Synchronous = Literal["NORMAL", "FULL"]

# Records are msgspec JSON in `data`/`event` columns; the columns beside them are what we
# query by. Statements are run one by one (not executescript) so they stay inside the
# BEGIN IMMEDIATE of the migration: executescript would COMMIT first.
_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS clients (
        id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        data BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS entitlements (
        type TEXT NOT NULL,
        subject TEXT NOT NULL,
        version INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (type, subject)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS entitlements_subject ON entitlements (subject)",
    """CREATE TABLE IF NOT EXISTS status_lists (
        id INTEGER PRIMARY KEY,
        allocated INTEGER NOT NULL DEFAULT 0)""",
    # one row per allocated index: the row itself is the "never hand it out twice" marker
    """CREATE TABLE IF NOT EXISTS status_entries (
        list_id INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        status INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 3),
        PRIMARY KEY (list_id, idx)) WITHOUT ROWID""",
    # packing a list reads only the non-zero entries, from this small covering index
    """CREATE INDEX IF NOT EXISTS status_entries_nonzero
        ON status_entries (list_id, idx, status) WHERE status <> 0""",
    """CREATE TABLE IF NOT EXISTS cards (
        number TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        data BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS cards_subject ON cards (subject)",
    """CREATE TABLE IF NOT EXISTS proofs (
        jti TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        expires_us INTEGER NOT NULL,
        data BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS proofs_expiry ON proofs (expires_us)",
    """CREATE TABLE IF NOT EXISTS codes (
        code TEXT PRIMARY KEY,
        jti TEXT NOT NULL REFERENCES proofs (jti) ON DELETE CASCADE,
        expires_us INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS codes_expiry ON codes (expires_us)",
    "CREATE INDEX IF NOT EXISTS codes_jti ON codes (jti)",
    """CREATE TABLE IF NOT EXISTS rate_hits (
        key TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (key, window_start)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS rate_hits_expiry ON rate_hits (expires)",
    """CREATE TABLE IF NOT EXISTS audit (
        chain TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event BLOB NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        PRIMARY KEY (chain, seq)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS audit_verifications
        ON audit (subject, seq) WHERE action IN ('verify', 'card_check')""",
)


# v2: "seen" keeps one counter per jti and one row per (jti, organisation) instead of a row
# per check, so counting costs the same on the 1000th check of a proof as on the first.
_SCHEMA_V2 = (
    """CREATE TABLE IF NOT EXISTS seen_jti (
        jti TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        last_us INTEGER NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS seen_jti_last ON seen_jti (last_us)",
    """CREATE TABLE IF NOT EXISTS seen_org (
        jti TEXT NOT NULL,
        org TEXT NOT NULL,
        last_us INTEGER NOT NULL,
        PRIMARY KEY (jti, org)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS seen_org_last ON seen_org (last_us)",
    "DROP TABLE IF EXISTS checks",
)


# v3: a proof's numeric code is a column of the proof, unique among the proofs that hold
# one, instead of a row of a `codes` table of its own. Saving a proof with its code was
# three statements on seven B-trees (the proof's row, jti and expiry; the code's row,
# code, expiry and jti): now one statement on four. A code lookup is one index probe.
_SCHEMA_V3 = (
    "ALTER TABLE proofs ADD COLUMN code TEXT",
    # a code that has expired may be held by an expired proof still in its grace period:
    # live codes are unique, and a new proof takes an expired one over (`save_proof`)
    """UPDATE proofs SET code = (SELECT c.code FROM codes AS c WHERE c.jti = proofs.jti
        ORDER BY c.expires_us DESC LIMIT 1)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS proofs_code ON proofs (code) WHERE code IS NOT NULL",
    "DROP TABLE IF EXISTS codes",
)


# v4: signed checkpoints of the audit log, oldest first (`app.audit.checkpoints`)
_SCHEMA_V4 = (
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        n INTEGER PRIMARY KEY,
        note BLOB NOT NULL)""",
    # what `audit archive` moved out of a chain: its records 1..upto, the last of which
    # hashed to `hash` (the first record kept links to it); `before`: the archive's date
    """CREATE TABLE IF NOT EXISTS audit_archived (
        chain TEXT PRIMARY KEY,
        upto INTEGER NOT NULL,
        hash TEXT NOT NULL,
        before_us INTEGER NOT NULL) WITHOUT ROWID""",
)


# v5: a numeric code is stored as its keyed digest (`app.tokens.code_digest`), never in
# clear. This store cannot compute digests (the secret is the domain's), and a code of
# schema 3 or 4 lives minutes: those are dropped rather than kept in clear. Their proofs
# stay (tokens keep verifying); a code handed out before the upgrade answers
# `unknown_code`.
# `secure_delete` (set around this step) zeroes the freed bytes instead of leaving the
# digits in free space of the pages.
_SCHEMA_V5 = ("UPDATE proofs SET code = NULL WHERE code IS NOT NULL",)


# v6: entitlements, cards and proofs in their compact form (`app.storage._lean`): the
# JSON rows are rewritten in place, in pages (one transaction: a crash leaves schema 5
# and the next start does it again). Readers still accept JSON, so a row missed would
# only be larger, never unreadable.
_LEAN_TABLES: tuple[tuple[str, str, Callable[[bytes], Any], Callable[[Any], bytes]], ...] = (
    ("entitlements", "type, subject", decode_entitlement, encode_entitlement),
    ("cards", "number", decode_card, encode_card),
    ("proofs", "jti", decode_proof, encode_proof),
)


def _to_lean(conn: sqlite3.Connection) -> None:
    """Rewrite every JSON row, in primary-key order a page at a time (memory stays flat)."""
    for table, key, decode, encode in _LEAN_TABLES:
        width = key.count(",") + 1
        marks = ", ".join("?" * width)
        after: tuple[Any, ...] = ("",) * width
        while True:
            rows = conn.execute(
                f"SELECT {key}, data FROM {table} WHERE ({key}) > ({marks})"  # noqa: S608
                f" ORDER BY {key} LIMIT 1000",
                after,
            ).fetchall()
            if not rows:
                break
            conn.executemany(
                f"UPDATE {table} SET data = ? WHERE ({key}) = ({marks})",  # noqa: S608
                [
                    (encode(decode(bytes(row[-1]))), *row[:-1])
                    for row in rows
                    if bytes(row[-1])[:1] == b"{"
                ],
            )
            after = tuple(rows[-1][:-1])


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the database's write lock up front.

    BEGIN IMMEDIATE waits (busy_timeout) for the lock *before* reading anything, so what
    we read inside (a version, the audit head, a code) cannot be changed by another
    process before we write. A deferred BEGIN would read first and could then fail to
    upgrade with SQLITE_BUSY without waiting, or, worse, decide on a stale snapshot.

    Inside a transaction already (a group commit, see `app.storage.sqlite`), it is a
    SAVEPOINT instead: the write is still all-or-nothing on its own, and the lock is the
    enclosing transaction's.
    """
    if conn.in_transaction:
        # One name for every savepoint: RELEASE and ROLLBACK TO act on the newest one of
        # that name, so nesting still works, and the statements stay compiled in the
        # connection's cache (a name per write compiled two statements each time and
        # churned the cache: 9-11 against 3-4 µs per write, measured).
        conn.execute("SAVEPOINT w")
        try:
            yield conn
            conn.execute("RELEASE w")
        except BaseException:
            conn.execute("ROLLBACK TO w")
            conn.execute("RELEASE w")
            raise
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def run_group(
    conn: sqlite3.Connection, calls: list[Callable[[sqlite3.Connection], object]]
) -> list[tuple[bool, object]]:
    """Run several writes in one transaction (one lock, one commit), each in its own
    savepoint: one that raises is undone alone and reported as (False, exception)."""
    out: list[tuple[bool, object]] = []
    with immediate(conn):
        for call in calls:
            try:
                out.append((True, call(conn)))
            except Exception as exc:
                out.append((False, exc))
    return out


def connect_reader(path: str, *, timeout_s: float) -> sqlite3.Connection:
    """A read-only connection for the event loop's own thread.

    In WAL mode a reader never waits for a writer, so short indexed reads can run without
    a hop to the store's thread; writes and long reads stay on that thread.
    """
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    conn.execute("PRAGMA query_only = ON")
    _tune(conn)
    return conn


def connect_loop_writer(path: str, *, synchronous: Synchronous) -> sqlite3.Connection:
    """A writer for the event loop's thread that never waits long for the lock.

    Group commits run here directly (no thread hop: measured ~250 µs of CPU per write for
    the executor round trip, against ~90 µs for the transaction itself). Its busy timeout
    is 5 ms: when another process holds the write lock longer, the group goes to the
    store's thread instead, which may wait the full timeout without stalling requests.
    """
    conn = sqlite3.connect(path, timeout=LOOP_LOCK_WAIT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(LOOP_LOCK_WAIT_S * 1000)}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    # SQLite checkpoints in the commit that crosses wal_autocheckpoint (1000 pages by
    # default), and a checkpoint fsyncs: on this thread that stalls every request of the
    # worker for the length of an fsync. The store runs them on its own thread instead.
    conn.execute(f"PRAGMA wal_autocheckpoint = {LOOP_AUTOCHECKPOINT_PAGES}")
    _tune(conn)
    return conn


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy committed WAL pages into the database file without waiting for anyone
    (PASSIVE: readers and writers go on; what cannot be copied now is copied next time)."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _tune(conn: sqlite3.Connection) -> None:
    """Reads through a memory map (no read() system call per page) and a page cache that
    holds the hot B-tree pages of the audit, status and proof tables."""
    conn.execute("PRAGMA mmap_size = 268435456")
    conn.execute("PRAGMA cache_size = -32768")


def connect(path: str, *, timeout_s: float, synchronous: Synchronous) -> sqlite3.Connection:
    """Open `path`, set the pragmas and bring the schema to `SCHEMA_VERSION`.

    Args:
        path: the database file (its directory must exist).
        timeout_s: how long to wait for another process's write lock before giving up.
        synchronous: "NORMAL" or "FULL", see below.

    Raises:
        ConfigError: the file cannot use WAL, or was written by a newer Statuspass.
    """
    # isolation_level=None: the sqlite3 module opens no transaction behind our back; every
    # write says BEGIN IMMEDIATE itself (see `immediate`).
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        # WAL: readers never block the writer nor each other, so several worker processes
        # can share the file; writers are serialised by BEGIN IMMEDIATE.
        mode = _enable_wal(conn, timeout_s)
        if str(mode).lower() != "wal":
            raise ConfigError(f"SQLite store {path!r} cannot use WAL (got {mode!r})")
        # synchronous=NORMAL in WAL mode: a commit is written to the WAL file (the OS page
        # cache) before the call returns, and the WAL is fsynced at checkpoints. So an
        # acknowledged write survives a crash or kill -9 of *the process* (the kernel still
        # has it), and the database is never corrupted. It does NOT guarantee durability
        # across power loss or a kernel crash: the last transactions before the failure may
        # be rolled back (consistently). FULL fsyncs the WAL on every commit, which closes
        # that gap at the price of one fsync per write (milliseconds on SSD, far more on
        # network disks), hence a configuration choice: `sqlite:///path?synchronous=full`.
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # per connection, off by default (no table of schema 3 declares a foreign key;
        # kept on so that a future one is enforced)
        conn.execute("PRAGMA foreign_keys = ON")
        _tune(conn)
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """Switch to WAL, retrying while another process holds the file.

    Two workers opening a fresh file at once race for the lock this switch needs, and
    SQLite answers "database is locked" at once here instead of calling the busy handler;
    retried until the connection's own timeout, it succeeds (or finds WAL already set).
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return str(mode)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _user_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    if _user_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("PRAGMA secure_delete = ON")
    try:
        found = _migrate_locked(conn, path)
    finally:
        conn.execute("PRAGMA secure_delete = OFF")
    if 0 < found < 5:
        # the pages that held clear codes are in the WAL until it is checkpointed and
        # restarted: done once, at the upgrade (a reader elsewhere may keep it; then
        # the WAL's next restart overwrites them)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _migrate_locked(conn: sqlite3.Connection, path: str) -> int:
    """Bring the schema up to date under the write lock; the version found there."""
    with immediate(conn):
        # re-read under the write lock: another worker may have migrated meanwhile
        version = _user_version(conn)
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"SQLite store {path!r} has schema {version}, newer than this Statuspass "
                f"({SCHEMA_VERSION}): upgrade Statuspass"
            )
        steps = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4, _SCHEMA_V5)
        for target, statements in enumerate(steps, start=1):
            if version < target:
                for statement in statements:
                    conn.execute(statement)
        if version < 6:
            _to_lean(conn)
        # future versions: `if version < 7: ...` here, each step idempotent
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version
