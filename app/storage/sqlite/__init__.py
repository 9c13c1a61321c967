"""The embedded default store: one SQLite file in WAL mode, shared by every worker.

`store` is the `Store` (SqliteStore); `db` opens the file, migrates its schema and runs
the writes in `BEGIN IMMEDIATE` transactions; `records`, `checks` and `audit` hold the
SQL of each concern; `files` keeps the database and its side files private.
"""

from __future__ import annotations

from app.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
