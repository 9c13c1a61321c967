"""The signed checkpoints of the audit log in SQLite (`app.audit.checkpoints`), oldest
first, and the oldest ones `audit archive` dropped once they were in the archive.

Checkpoints are counted over all ever kept, dropped ones too: the count is what a signer
names when it keeps the next one (`add_checkpoint`), so two signers never both extend
the same predecessor, before or after a drop.
"""

from __future__ import annotations

import sqlite3

from app.audit.checkpoints import note_hash
from app.storage.sqlite.tx import immediate

__all__ = [
    "add_checkpoint",
    "checkpoints",
    "dropped_checkpoints",
    "latest_checkpoint",
    "trim_checkpoints",
]


def add_checkpoint(conn: sqlite3.Connection, note: bytes, expected_count: int) -> bool:
    """Keep a signed checkpoint, only if `expected_count` were kept before (so two
    workers signing at once do not both extend the same predecessor)."""
    with immediate(conn):
        (count,) = conn.execute("SELECT COUNT(*) FROM audit_checkpoints").fetchone()
        if int(count) + _dropped(conn)[0] != expected_count:
            return False
        conn.execute("INSERT INTO audit_checkpoints (note) VALUES (?)", (note,))
        return True


def checkpoints(conn: sqlite3.Connection) -> list[bytes]:
    """Every checkpoint still kept, oldest first."""
    rows = conn.execute("SELECT note FROM audit_checkpoints ORDER BY n").fetchall()
    return [bytes(note) for (note,) in rows]


def latest_checkpoint(conn: sqlite3.Connection) -> tuple[int, bytes | None]:
    """How many checkpoints were ever kept (dropped ones too), and the newest one."""
    count, note, dropped = conn.execute(
        "SELECT COUNT(*), (SELECT note FROM audit_checkpoints ORDER BY n DESC LIMIT 1),"
        " (SELECT count FROM audit_checkpoints_dropped) FROM audit_checkpoints"
    ).fetchone()
    return int(count) + int(dropped or 0), None if note is None else bytes(note)


def dropped_checkpoints(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """How many of the oldest checkpoints were dropped, and the note hash of the last."""
    return _dropped(conn)


def trim_checkpoints(conn: sqlite3.Connection, upto: int, last: bytes) -> bool:
    """Drop checkpoints 1..`upto` (now in the archive) if checkpoint `upto` is `last` and
    a newer one stays; remember how many and `last`'s note hash, in one transaction."""
    digest = note_hash(last)
    with immediate(conn):
        done, done_hash = _dropped(conn)
        if done >= upto:
            return done > upto or done_hash == digest
        rows = conn.execute(
            "SELECT n, note FROM audit_checkpoints ORDER BY n LIMIT ?", (upto - done + 1,)
        ).fetchall()
        if len(rows) <= upto - done or bytes(rows[upto - done - 1][1]) != last:
            return False
        conn.execute("DELETE FROM audit_checkpoints WHERE n <= ?", (rows[upto - done - 1][0],))
        conn.execute(
            "INSERT OR REPLACE INTO audit_checkpoints_dropped (one, count, last) VALUES (1, ?, ?)",
            (upto, digest),
        )
    return True


def _dropped(conn: sqlite3.Connection) -> tuple[int, str | None]:
    row = conn.execute("SELECT count, last FROM audit_checkpoints_dropped").fetchone()
    return (0, None) if row is None else (int(row[0]), str(row[1]))
