"""The SQLite schema, versioned with PRAGMA user_version, and the steps that bring an
older file up to date (each one idempotent, all under one write lock).

Runs on the store's own thread, when a connection opens (`db.connect`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from app.errors import ConfigError
from app.storage import _lean
from app.storage.sqlite.tx import immediate

__all__ = ["SCHEMA_VERSION", "migrate"]

SCHEMA_VERSION = 8
#: the time bucket of an audit record in SQL: bytes 3-6 of its packed event (after the
#: array header and the uint64 marker: the high half of its time in µs), in hex
CHECK_BUCKET = "hex(substr(event, 3, 4))"

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
    ("entitlements", "type, subject", _lean.decode_entitlement, _lean.encode_entitlement),
    ("cards", "number", _lean.decode_card, _lean.encode_card),
    ("proofs", "jti", _lean.decode_proof, _lean.encode_proof),
)


# v7: how many of the oldest signed checkpoints `audit archive` dropped from
# audit_checkpoints once they were in the archive, and the note hash of the last of them
# (the first checkpoint kept names it as its predecessor). One row, or none.
_SCHEMA_V7 = (
    """CREATE TABLE IF NOT EXISTS audit_checkpoints_dropped (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        count INTEGER NOT NULL,
        last TEXT NOT NULL)""",
)


# v8: the citizens' verification index leads with the time of the check (the high 32
# bits of its packed time in µs, ~72 minutes; `CHECK_BUCKET`), then the subject. Keyed
# by subject alone, dropping a run of archived records rewrote a random page of the
# index for nearly every record (10^6 records: 23 s of a 36 s archive); by time first,
# the records of a trim fall in a few buckets whose pages are each rewritten once
# (6 s). A citizen's checks are found by probing each bucket of the window kept
# (`audit.verifications_for`). Legacy JSON events all fall in one bucket (`{"at":…`).
_SCHEMA_V8 = (
    "DROP INDEX IF EXISTS audit_verifications",
    f"""CREATE INDEX IF NOT EXISTS audit_checks ON audit ({CHECK_BUCKET}, subject, seq)
        WHERE action IN ('verify', 'card_check')""",
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


def _user_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the schema of `path` to `SCHEMA_VERSION` (nothing to do: one read).

    Raises:
        ConfigError: the file was written by a newer Statuspass.
    """
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
        if version < 7:
            for statement in _SCHEMA_V7:
                conn.execute(statement)
        if version < 8:
            for statement in _SCHEMA_V8:
                conn.execute(statement)
        # future versions: `if version < 9: ...` here, each step idempotent
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version
