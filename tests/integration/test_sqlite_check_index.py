"""SQLite finds a citizen's checks through an index led by the time of the check (so that
archiving drops few pages of it): checks months apart, of the JSON form of earlier
releases, and of a store indexed the schema 7 way, are all found, newest first."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from factories import T0, make_event

from app.audit.format import record_hash
from app.domain.events import encode_event_legacy
from app.storage.sqlite import audit as sqlite_audit
from app.storage.sqlite import schema as sqlite_schema
from app.storage.sqlite.db import connect

CITIZEN = "9f2c1a0b5e6d7f80" * 4
OTHER = "0123456789abcdef" * 4


def _open(path: Path) -> sqlite3.Connection:
    return connect(str(path), timeout_s=5, synchronous="NORMAL")


def _checks(conn: sqlite3.Connection, limit: int = 100) -> list[str | None]:
    return [e.org for e in sqlite_audit.verifications_for(conn, CITIZEN, limit)]


def test_checks_months_apart_are_all_found_newest_first(tmp_path: Path) -> None:
    with closing(_open(tmp_path / "s.db")) as conn:
        for day in (0, 1, 3, 40, 200):
            when = T0 + timedelta(days=day, minutes=day)
            sqlite_audit.append_audit(
                conn, make_event("verify", when=when, subject=CITIZEN, org=f"day {day}")
            )
            sqlite_audit.append_audit(
                conn, make_event("verify", when=when, subject=OTHER, org="someone else")
            )
            sqlite_audit.append_audit(conn, make_event("grant", when=when, subject=CITIZEN))
        assert _checks(conn) == ["day 200", "day 40", "day 3", "day 1", "day 0"]
        assert _checks(conn, limit=2) == ["day 200", "day 40"]
        assert sqlite_audit.verifications_for(conn, "f" * 64, 10) == []


def test_a_check_stored_as_json_by_an_earlier_release_is_found(tmp_path: Path) -> None:
    with closing(_open(tmp_path / "s.db")) as conn:
        old = make_event("card_check", when=T0, subject=CITIZEN, org="then")
        data = encode_event_legacy(old)
        conn.execute(
            "INSERT INTO audit (chain, seq, event, prev, hash, action, subject)"
            " VALUES ('main', 1, ?, ?, ?, 'card_check', ?)",
            (data, "0" * 64, record_hash("main", 1, "0" * 64, data), CITIZEN),
        )
        sqlite_audit.append_audit(
            conn, make_event("verify", when=T0 + timedelta(days=2), subject=CITIZEN, org="now")
        )
        assert _checks(conn) == ["now", "then"]


def test_a_store_of_schema_7_is_reindexed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with closing(_open(path)) as conn:
        for day in (0, 30):
            sqlite_audit.append_audit(
                conn,
                make_event("verify", when=T0 + timedelta(days=day), subject=CITIZEN, org=f"{day}"),
            )
        # as schema 7 left it: the index keyed by subject alone
        conn.execute("DROP INDEX audit_checks")
        conn.execute(
            "CREATE INDEX audit_verifications ON audit (subject, seq)"
            " WHERE action IN ('verify', 'card_check')"
        )
        conn.execute("PRAGMA user_version = 7")
    with closing(_open(path)) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "audit_checks" in names
        assert "audit_verifications" not in names
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_schema.SCHEMA_VERSION,)
        assert _checks(conn) == ["30", "0"]


def test_a_broken_check_row_hides_nothing_else(tmp_path: Path) -> None:
    # rows no release writes (a few bytes; a time not packed as a uint64): each one is
    # left out, the citizen's other checks are listed as before
    with closing(_open(tmp_path / "s.db")) as conn:
        sqlite_audit.append_audit(conn, make_event("verify", when=T0, subject=CITIZEN, org="kept"))
        for seq, junk in ((90, b"\x9b"), (91, b"\x9b\xd3" + b"\xff" * 8 + b"\xc0" * 9)):
            conn.execute(
                "INSERT INTO audit (chain, seq, event, prev, hash, action, subject)"
                " VALUES ('main', ?, ?, ?, ?, 'verify', ?)",
                (seq, junk, "0" * 64, "1" * 64, CITIZEN),
            )
        assert _checks(conn) == ["kept"]
