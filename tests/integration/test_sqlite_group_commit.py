"""Group commit on SQLite: concurrent writes share a transaction, yet each one succeeds
or fails on its own, and each caller resumes only once its write is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from app.audit.service import verify_audit
from app.domain.records import EntitlementWrite
from app.errors import VersionConflict
from app.storage import open_store
from app.storage.sqlite import runner as sqlite_runner
from app.storage.sqlite import store as sqlite_store
from app.storage.sqlite.db import LOOP_AUTOCHECKPOINT_PAGES
from tests.integration.factories import at, make_entitlement, make_event


async def test_a_failing_write_in_a_group_fails_alone(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")
    try:
        ref = await store.allocate_status_ref("subj-a")
        ent = make_entitlement(ref)
        await store.save_entitlement(
            EntitlementWrite(
                ent=ent,
                expected_version=None,
                status_updates=[],
                cards=[],
                audit=make_event("grant"),
            )
        )
        events = [store.append_audit(make_event("verify", when=at(i))) for i in range(50)]
        stale = store.save_entitlement(
            EntitlementWrite(
                ent=ent,
                expected_version=None,
                status_updates=[],
                cards=[],
                audit=make_event("grant"),
            )
        )
        results = await asyncio.gather(*events, stale, return_exceptions=True)
        assert all(r is None for r in results[:50])
        assert isinstance(results[50], VersionConflict)
        report = await verify_audit(store)
        assert report.ok and report.records == 51  # 1 grant + 50 verifies, no stray grant
    finally:
        await store.close()


async def test_writes_are_visible_to_reads_once_acknowledged(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")
    other = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")  # another worker
    try:
        counts = await asyncio.gather(*(store.hit_rate("k", 60, at(0)) for _ in range(40)))
        assert sorted(counts) == list(range(1, 41))
        assert await other.rate_count("k", 60, at(0)) == 40
    finally:
        await store.close()
        await other.close()


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    from app.errors import StoreUnavailable

    store = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.append_audit(make_event("verify"))


async def test_the_wal_is_checkpointed_while_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits on the event loop's thread leave checkpoints (and their fsyncs) to the
    store's thread; they still happen while the service writes, so the database file
    takes the data in long before the WAL reaches the loop writer's own threshold."""
    monkeypatch.setattr(sqlite_runner, "_CHECKPOINT_EVERY_S", 0.05)
    path = tmp_path / "c.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        start = path.stat().st_size
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.5
        i = 0
        while loop.time() < deadline:
            await asyncio.gather(
                *(store.append_audit(make_event("verify", when=at(i + k))) for k in range(20))
            )
            i += 20
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.05)  # the last checkpoint started runs to its end
        wal = path.with_name(path.name + "-wal").stat().st_size
        assert wal < LOOP_AUTOCHECKPOINT_PAGES * 4096  # SQLite did not checkpoint by itself
        assert path.stat().st_size > start + 100 * 1024  # yet pages moved in while open
        report = await verify_audit(store)
        assert report.ok and report.records == i
    finally:
        await store.close()


async def test_reads_see_another_workers_commit_at_once(tmp_path: Path) -> None:
    """Reads run on the connection that commits this worker's own writes (it keeps its
    page cache); another worker's commit must still show in the very next read."""
    store = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")
    other = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")
    try:
        ref = await store.allocate_status_ref("subj-a")
        ent = make_entitlement(ref)
        await store.save_entitlement(
            EntitlementWrite(
                ent=ent,
                expected_version=None,
                status_updates=[],
                cards=[],
                audit=make_event("grant"),
            )
        )
        await store.append_audit(make_event("verify"))  # a commit of this worker's own
        seen = await store.get_entitlement(ent.type, ent.subject)
        assert seen is not None and seen.status == 0
        revoked = make_entitlement(ref, status=1, version=2)
        await other.save_entitlement(
            EntitlementWrite(
                ent=revoked,
                expected_version=1,
                status_updates=[],
                cards=[],
                audit=make_event("revoke"),
            )
        )
        seen = await store.get_entitlement(ent.type, ent.subject)
        assert seen is not None and (seen.status, seen.version) == (1, 2)
    finally:
        await store.close()
        await other.close()


async def test_a_read_that_finds_its_connection_locked_is_answered_by_the_other(
    tmp_path: Path,
) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/g.sqlite3")
    assert isinstance(store, sqlite_store.SqliteStore)
    try:
        used = []

        def read(conn: sqlite3.Connection) -> int:
            used.append(conn)
            if len(used) == 1:
                raise sqlite3.OperationalError("database is locked")
            return int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])

        assert store._read(read) == 0
        assert len(used) == 2 and used[0] is not used[1]
    finally:
        await store.close()


async def test_a_write_behind_a_short_lock_holder_gets_in_before_it_takes_the_lock_back(
    tmp_path: Path,
) -> None:
    """`audit archive` drops records in short transactions with short pauses between
    them (`trim_archived`). A write of the service that found the lock held must get it
    in such a pause: SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms between
    tries, so it slept through the pause and waited for the next transaction too."""
    path = f"{tmp_path}/g.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    holder = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    try:
        events: list[str] = []
        holder.execute("BEGIN IMMEDIATE")

        def hold() -> None:
            import time

            time.sleep(0.045)
            holder.execute("COMMIT")
            time.sleep(0.008)  # the pause
            holder.execute("BEGIN IMMEDIATE")  # waits for the write if it got in
            events.append("holder took the lock back")
            time.sleep(0.5)
            holder.execute("COMMIT")
            events.append("holder let go")

        holding = asyncio.get_running_loop().run_in_executor(None, hold)
        await store.append_audit(make_event("verify", when=at(0)))
        events.append("written")
        await holding
        assert events[0] == "written", events
        report = await verify_audit(store)
        assert report.ok and report.records == 1
    finally:
        holder.close()
        await store.close()
