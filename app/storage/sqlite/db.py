"""The SQLite connections: the store's own, the event loop's reader and writer, and
their pragmas. The schema is `schema`, transactions are `tx`.

`connect` runs on the store's single worker thread (see `app.storage.sqlite`).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Literal

from app.errors import ConfigError
from app.storage.sqlite.schema import migrate

__all__ = [
    "LOOP_AUTOCHECKPOINT_PAGES",
    "Synchronous",
    "checkpoint",
    "connect",
    "connect_loop_writer",
    "connect_reader",
]

#: WAL pages after which a commit on the loop's thread checkpoints by itself (and so
#: lets the next write start the WAL afresh); the copying is done off the loop before
LOOP_AUTOCHECKPOINT_PAGES = 16_384

Synchronous = Literal["NORMAL", "FULL"]


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
    """A writer for the event loop's thread that never waits for the lock.

    Group commits run here directly (no thread hop: measured ~250 µs of CPU per write for
    the executor round trip, against ~90 µs for the transaction itself). Its busy timeout
    is 0: when another process holds the write lock, BEGIN fails at once and the caller
    tries again after an `await` (`Runner._commit`), so the loop serves other requests
    meanwhile instead of sleeping in SQLite's busy handler.
    """
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 0")
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
    # write says BEGIN IMMEDIATE itself (see `tx.immediate`).
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
        migrate(conn, path)
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
