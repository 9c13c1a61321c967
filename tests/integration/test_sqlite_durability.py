"""SQLite specifics: real worker processes on one file, kill -9, the factory, the speed of
status-list packing. The behaviour every store shares is in test_store_contract.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from factories import T0, make_event, make_proof

from app.audit.format import record_hash
from app.domain.events import GENESIS_HASH, encode_event
from app.domain.ports import STATUS_LIST_SIZE, Store
from app.errors import ConfigError, StoreUnavailable
from app.storage import SqliteStore, open_store, redact_url

ROOT = Path(__file__).resolve().parents[2]

# A worker process: opens the store itself and prints one line per acknowledged write.
WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from datetime import UTC, datetime, timedelta
    from app.domain.records import AuditEvent, Entitlement, EntitlementWrite, Holder
    from app.storage import open_store

    T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def entitlement(ref, subject, version):
        return Entitlement(
            type="parking", subject=subject, holder=Holder("Ada", "Lovelace"),
            valid_from=T0, valid_until=T0 + timedelta(days=1), attributes={},
            status=version % 2, status_ref=ref, reason=None, version=version,
            updated_at=T0, updated_by="w",
        )

    async def main(url, name, count):
        store = await open_store(url, timeout_s=10)
        try:
            print("ready", flush=True)
            sys.stdin.readline()  # "go": start together with the other workers
            ref = await store.allocate_status_ref("subj-a")
            for i in range(count):
                if name != "kill" and i == count // 2:
                    print("half", flush=True)
                    sys.stdin.readline()  # "go": the second half, once all did the first
                event = AuditEvent(at=T0, actor=name, action="grant", jti=f"{name}-{i}")
                # "kill": many creations; others: successive versions of one record
                if name == "kill":
                    subject, version = f"kill-{i}", 1
                else:
                    subject, version = name, i + 1
                await store.save_entitlement(EntitlementWrite(
                    ent=entitlement(ref, subject, version),
                    expected_version=None if version == 1 else version - 1,
                    audit=event,
                ))
                await store.append_audit(AuditEvent(at=T0, actor=name, action="key_list"))
                hit = await store.hit_rate("shared", 60, T0)
                print(json.dumps([i, hit]), flush=True)
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


Spawn = Callable[[str, str, int], "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start worker processes; any still running after the test is killed and reaped."""
    started: list[subprocess.Popen[str]] = []

    def run(url: str, name: str, count: int) -> subprocess.Popen[str]:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, url, name, str(count)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(worker)
        return worker

    yield run
    for worker in started:
        if worker.poll() is None:
            worker.kill()
        worker.communicate()


async def start(workers: list[subprocess.Popen[str]], word: str = "ready") -> list[list[str]]:
    """Wait until every worker has printed `word` (opened the store, done half its
    writes), then let them all go at once; returns what each printed before `word`."""
    before: list[list[str]] = []
    for worker in workers:
        assert worker.stdout is not None
        lines: list[str] = []
        while (line := await asyncio.to_thread(worker.stdout.readline)) != f"{word}\n":
            assert line, worker.communicate()[1]
            lines.append(line)
        before.append(lines)
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    return before


async def assert_chain_unbroken(store: Store) -> list[str]:
    """Recompute every hash; return the actors in chain order."""
    prev, seq, actors = GENESIS_HASH, 0, []
    async for record in store.iter_audit():
        seq += 1
        assert (record.seq, record.prev) == (seq, prev)
        assert record.hash == record_hash(
            record.chain, record.seq, prev, encode_event(record.event)
        )
        prev = record.hash
        actors.append(record.event.actor)
    return actors


@pytest.mark.slow
async def test_two_processes_share_one_file(tmp_path: Path, spawn: Spawn) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    count = 60
    workers = [spawn(url, name, count) for name in ("w1", "w2")]
    await start(workers)
    # every worker does half its writes before any does the second half: the first half
    # of the chain holds both, whatever the scheduler did
    first_halves = await start(workers, "half")
    outputs = [await asyncio.to_thread(w.communicate, timeout=120) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err

    lines = [line for half in first_halves for line in half]
    lines += [line for out, _ in outputs for line in out.splitlines()]
    hits = sorted(json.loads(line)[1] for line in lines)
    assert hits == list(range(1, 2 * count + 1))  # atomic across processes
    store = await open_store(url)
    try:
        actors = await assert_chain_unbroken(store)
        assert sorted(actors) == ["w1"] * 2 * count + ["w2"] * 2 * count
        # both wrote in the first half: the two processes really wrote side by side
        assert set(actors[: 2 * count]) == {"w1", "w2"}
        for name in ("w1", "w2"):
            ent = await store.get_entitlement("parking", name)
            assert ent is not None
            assert ent.version == count
    finally:
        await store.close()


@pytest.mark.slow
async def test_acknowledged_writes_survive_kill_9(tmp_path: Path, spawn: Spawn) -> None:
    url = f"sqlite:///{tmp_path / 'killed.sqlite3'}"
    worker = spawn(url, "kill", 100_000)
    await start([worker])
    assert worker.stdout is not None
    acknowledged: list[int] = []
    while len(acknowledged) < 150:
        line = await asyncio.to_thread(worker.stdout.readline)
        assert line, worker.communicate()[1]
        acknowledged.append(json.loads(line)[0])
    worker.send_signal(signal.SIGKILL)
    rest, _ = await asyncio.to_thread(worker.communicate, timeout=30)
    # lines already in the pipe were acknowledged before the kill, too
    acknowledged += [json.loads(line)[0] for line in rest.splitlines()]
    assert worker.returncode == -signal.SIGKILL

    store = await open_store(url)
    try:
        actors = await assert_chain_unbroken(store)
        assert len(actors) >= 2 * len(acknowledged)
        for i in acknowledged:
            assert await store.get_entitlement("parking", f"kill-{i}") is not None
        assert await store.rate_count("shared", 60, T0) >= len(acknowledged)
    finally:
        await store.close()


# -- the factory ------------------------------------------------------------------------
async def test_open_store_relative_and_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in (
        "sqlite:///var/rel/s.sqlite3",
        f"sqlite:///{tmp_path}/abs/s.sqlite3?synchronous=full",
    ):
        store = await open_store(url)
        await store.ping()
        await store.close()
    assert (tmp_path / "var" / "rel" / "s.sqlite3").exists()
    assert (tmp_path / "abs" / "s.sqlite3").exists()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://x",
        "nonsense",
        "sqlite://relative.db",
        "sqlite:///",
        "sqlite:///x.db?synchronous=off",
        "sqlite:///x.db?journal=delete",
    ],
)
async def test_open_store_refuses(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        await open_store(url)


def test_redact_url() -> None:
    assert redact_url("redis://u:s3cret@h:6379/0") == "redis://u:***@h:6379/0"
    assert redact_url("redis://:s3cret@h/0?password=x&db=1") == "redis://:***@h/0?password=***&db=1"
    assert redact_url("sqlite:////abs/s.sqlite3") == "sqlite:////abs/s.sqlite3"
    assert "s3cret" not in redact_url("redis+cluster://a:s3cret@h:bad")


# -- SQLite behaviour -------------------------------------------------------------------
async def test_reopen_keeps_data_and_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    await store.append_audit(make_event())
    await store.close()
    store = await open_store(f"sqlite:///{path}")
    assert len([r async for r in store.iter_audit()]) == 1
    await store.close()

    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigError, match="newer"):
        await open_store(f"sqlite:///{path}")


@pytest.mark.parametrize("schema", [2, 3, 4])
async def test_older_schemas_drop_their_clear_codes(tmp_path: Path, schema: int) -> None:
    """Schema 5 keeps a code's keyed digest only: the numeric codes a file of schema 2
    (a table of their own), 3 or 4 (a column of the proof) holds in clear are dropped,
    down to their bytes on disk; the proofs stay, and new codes are stored as given."""
    import msgspec

    from app.domain.records import StatusRef
    from app.storage.sqlite import schema as sqlite_schema

    path = tmp_path / "s.sqlite3"
    live = make_proof("jti-live", StatusRef("1", 7), issued_at=T0, lifetime_s=600)
    old = make_proof("jti-old", StatusRef("1", 8), issued_at=T0, lifetime_s=60)
    clear = {"jti-live": "111111111111", "jti-old": "222222222222"}
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        steps = (
            sqlite_schema._SCHEMA_V1,
            sqlite_schema._SCHEMA_V2,
            sqlite_schema._SCHEMA_V3,
            sqlite_schema._SCHEMA_V4,
        )
        for statement in (s for step in steps[:schema] for s in step):
            conn.execute(statement)
        for proof in (live, old):
            expires = int(proof.expires_at.timestamp() * 1_000_000)
            conn.execute(
                "INSERT INTO proofs (jti, subject, expires_us, data) VALUES (?, ?, ?, ?)",
                (proof.jti, proof.subject, expires, msgspec.json.encode(proof)),
            )
            if schema == 2:
                conn.execute(
                    "INSERT INTO codes VALUES (?, ?, ?)", (clear[proof.jti], proof.jti, expires)
                )
            else:
                conn.execute(
                    "UPDATE proofs SET code = ? WHERE jti = ?", (clear[proof.jti], proof.jti)
                )
        conn.execute(f"PRAGMA user_version = {schema}")

    store = await open_store(f"sqlite:///{path}")
    try:
        now = T0 + timedelta(seconds=120)
        assert await store.get_proof_by_code("111111111111", now) is None
        fresh = make_proof("jti-new", StatusRef("1", 9), issued_at=now)
        assert await store.save_proof(fresh, "a-digest", make_event("issue"))
        assert await store.get_proof_by_code("a-digest", now) == fresh
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_schema.SCHEMA_VERSION,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "codes" not in tables
        rows = dict(conn.execute("SELECT jti, code FROM proofs").fetchall())
    assert rows == {"jti-live": None, "jti-old": None, "jti-new": "a-digest"}
    on_disk = _bytes_of(path)
    assert b"111111111111" not in on_disk and b"222222222222" not in on_disk


def _bytes_of(db: Path) -> bytes:
    """Everything SQLite keeps on disk for `db`: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


async def test_lock_wait_fails_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_store(f"sqlite:///{path}", timeout_s=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        task = asyncio.create_task(ticker())
        try:
            with pytest.raises(StoreUnavailable):
                await store.append_audit(make_event())
        finally:
            task.cancel()
            other.execute("ROLLBACK")
    assert ticks >= 10  # the loop kept running during the 0.3 s wait
    await store.append_audit(make_event())  # and the store works once the lock is gone
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.ping()


async def test_status_list_bytes_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(str(path))
    await store.allocate_status_ref("subj-a")
    # 10**5 revoked/suspended entries, written directly: allocating them one by one
    # through the API would only test the allocator's speed
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR REPLACE INTO status_entries (list_id, idx, status) VALUES (1, ?, ?)",
            ((i * 10 + 3, 1 + i % 2) for i in range(100_000)),
        )
        conn.execute("COMMIT")
    try:
        started = time.perf_counter()
        packed = await store.status_list_bytes("1")
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert packed is not None
        assert len(packed) == STATUS_LIST_SIZE // 4
        assert (packed[(123 * 10 + 3) // 4] >> 2 * ((123 * 10 + 3) % 4)) & 3 == 2
        print(f"status_list_bytes with 10**5 non-zero entries: {elapsed_ms:.1f} ms")
        assert elapsed_ms < 1000
    finally:
        await store.close()
