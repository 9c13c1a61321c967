"""`statuspass audit archive`: older records move to compressed segment files, nothing is
lost on a crash between the steps, and archive + store verify as one log."""

from __future__ import annotations

import asyncio
import gzip
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from audit_tamper import RedisTamper, SqliteTamper, Tamper
from conftest import store_url
from factories import T0, make_event

from app.audit import writer
from app.audit.archive import archive_audit
from app.audit.checkpoints import note_hash
from app.audit.service import sign_checkpoint
from app.cli import main
from app.domain.ports import Store
from app.errors import ConfigError
from app.keys.audit import load_audit_keys, rotate_audit_key
from app.storage import open_store

SUBJECT = "5a" * 32
BACKENDS = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.cluster),
    pytest.param("cluster", marks=pytest.mark.cluster),
]
CUT = T0 + timedelta(hours=1)


class Setup:
    def __init__(self, url: str, keys: Path, folder: Path) -> None:
        self.url, self.keys, self.folder = url, keys, folder

    def run(self, fn, *args):  # type: ignore[no-untyped-def]
        async def go():  # type: ignore[no-untyped-def]
            store = await open_store(self.url)
            try:
                return await fn(store, *args)
            finally:
                await store.close()

        return asyncio.run(go())

    def archive(self, store: Store, before=CUT):  # type: ignore[no-untyped-def]
        keys = load_audit_keys(self.keys)
        return archive_audit(store, self.folder, before, signer=(keys.name, keys.private), now=CUT)

    def cli(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
    ) -> tuple[int, str]:
        monkeypatch.setenv("STATUSPASS_STORE_URL", self.url)
        monkeypatch.setenv("STATUSPASS_KEYS_DIR", str(self.keys))
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out + err


async def _fill(store: Store, start: T0.__class__, n: int) -> None:  # type: ignore[name-defined]
    for i in range(n):
        when = start + timedelta(seconds=i)
        await store.append_audit(
            make_event("verify", when=when, subject=SUBJECT, jti=f"j{i}", org="Museum")
        )
        await store.append_audit(make_event("client_add", when=when))


async def _all(store: Store) -> list[tuple[str, int]]:
    return [(r.chain, r.seq) async for r in store.iter_audit_stored()]


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    url = store_url(request, request.param, tmp_path)
    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(url, keys, tmp_path / "archive")
    s.run(_fill, T0, 20)  # before the cut
    s.run(_fill, CUT + timedelta(minutes=5), 5)  # after it
    yield s


def test_archive_moves_old_records_and_verifies_as_one_log(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = setup.cli(
        capsys,
        monkeypatch,
        "audit",
        "archive",
        "--before",
        CUT.isoformat(),
        "--to",
        str(setup.folder),
    )
    assert code == 0 and out.startswith("archived 40 records"), out
    left = setup.run(_all)
    assert len(left) == 10  # only what is newer than the cut stays in the store
    for p in setup.folder.iterdir():
        if not p.name.startswith("."):
            assert oct(os.stat(p).st_mode)[-3:] == "600"
    segment = next(setup.folder.glob("segment-*.audit.gz"))
    assert gzip.decompress(segment.read_bytes()).count(b"verify") == 20
    # writers go on appending to the chains whose start was archived
    setup.run(_fill, CUT + timedelta(minutes=30), 2)
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0, out
    assert out.startswith("OK: 54 records")
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 0 and "40 archived ones not read" in out, out
    # nothing left to archive: a second run changes nothing
    code, out = setup.cli(
        capsys,
        monkeypatch,
        "audit",
        "archive",
        "--before",
        CUT.isoformat(),
        "--to",
        str(setup.folder),
    )
    assert code == 0 and out.startswith("nothing older"), out


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_crash_between_the_steps_loses_nothing_and_a_rerun_finishes(
    setup: Setup,
    crash_at: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The segment is on disk; the process dies before (1) or just after (2) the first
    chain's records are dropped from the store."""
    before = setup.run(_all)

    async def crashing(store: Store) -> None:
        real = store.trim_archived

        async def trim(*args):  # type: ignore[no-untyped-def]
            if crash_at == 2:
                await real(*args)
            raise KeyboardInterrupt  # as a kill: nothing after this point runs

        store.trim_archived = trim  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            await setup.archive(store)

    setup.run(crashing)
    assert list(setup.folder.glob("segment-*.audit.gz"))
    # meanwhile, the log still verifies with its archive: no record counted twice
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and out.startswith("OK: 50 records"), out
    result = setup.run(setup.archive)
    assert result.segment is None  # nothing new: the interrupted run's drops were finished
    assert result.resumed >= 1 or crash_at == 2
    assert len(setup.run(_all)) == 10
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and out.startswith("OK: 50 records"), out
    assert len(before) == 50


def test_a_record_archived_but_not_yet_dropped_is_still_held_to_its_hash(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run dies before any drop: the store still holds what the segment holds. Its
    copy in the store is checked too: edited bytes under the old hash are found."""

    async def dying(store: Store) -> None:
        async def trim(*args):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

        store.trim_archived = trim  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            await setup.archive(store)

    setup.run(dying)
    tamper: Tamper = (
        SqliteTamper(setup.url.removeprefix("sqlite:///"))
        if setup.url.startswith("sqlite")
        else RedisTamper(setup.url)
    )
    try:
        chain = next(c for c, _seq in setup.run(_all))
        rows = tamper.rows(chain)
        seq, prev, digest, data, cols = rows[0]
        edited = data.replace(b"Museum", b"Musee!")
        assert edited != data
        tamper.put(chain, [(seq, prev, digest, edited, cols), *rows[1:]])
    finally:
        tamper.close()
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 1 and f"chain {chain} record {seq}" in out, out


def test_an_edited_or_missing_segment_is_found(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup.run(setup.archive)
    segment = next(setup.folder.glob("segment-*.audit.gz"))
    data = gzip.decompress(segment.read_bytes()).replace(b"Museum", b"Musee!", 1)
    segment.write_bytes(gzip.compress(data))
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 1 and "does not hash to the head it records" in out, out
    segment.unlink()
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 1 and "a segment is missing" in out, out


def test_a_long_run_goes_into_several_segments_each_on_disk_before_the_next(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 records, at most 15 a segment: 15 + 15 + 10. The process dies as it begins the
    third: the two on disk are kept and the re-run archives the rest, nothing twice."""
    monkeypatch.setattr(writer, "SEGMENT_RECORDS", 15)
    real_open, opened = writer.SegmentWriter._open, []

    async def dying_open(self: writer.SegmentWriter) -> None:
        opened.append(self.number)
        if len(opened) == 3:
            raise KeyboardInterrupt  # as a kill
        await real_open(self)

    monkeypatch.setattr(writer.SegmentWriter, "_open", dying_open)
    with pytest.raises(KeyboardInterrupt):
        setup.run(setup.archive)
    assert sorted(p.name for p in setup.folder.glob("segment-*")) == [
        "segment-000001.audit.gz",
        "segment-000002.audit.gz",
    ]
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and out.startswith("OK: 50 records"), out
    monkeypatch.setattr(writer.SegmentWriter, "_open", real_open)
    result = setup.run(setup.archive)
    assert result.resumed >= 1 and result.records == 10
    assert [p.name for p in result.segments] == ["segment-000003.audit.gz"]
    assert len(setup.run(_all)) == 10
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and out.startswith("OK: 50 records"), out
    lines = gzip.decompress((setup.folder / "segment-000002.audit.gz").read_bytes())
    assert lines.count(b"\n+") == 15
    # two segments swapped (each still whole): the chains no longer follow on
    second, third = (
        setup.folder / "segment-000002.audit.gz",
        setup.folder / "segment-000003.audit.gz",
    )
    second.rename(setup.folder / "swap")
    third.rename(second)
    (setup.folder / "swap").rename(third)
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 1 and "missing" in out and "out of order" in out, out
    third.rename(setup.folder / "swap")
    second.rename(third)
    (setup.folder / "swap").rename(second)
    # a segment of the middle gone: the records it held are missing
    (setup.folder / "segment-000002.audit.gz").unlink()
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 1 and "missing" in out, out


class _Killed(Exception):
    """The archiving process dies here."""


def test_sqlite_drops_a_long_run_a_batch_at_a_time_and_a_crash_between_batches_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch of an archived run leaves SQLite in a transaction of its own (one DELETE
    of a million records held the write lock for seconds and the service's checks failed
    meanwhile: bench/archive_latency.py). Killed in its third batch, the run leaves the
    chain archived up to the second: the log verifies with its archive, and a re-run
    finishes the drops."""
    from app.storage._common import AUDIT_CHAIN
    from app.storage.sqlite import audit as sqlite_audit

    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(f"sqlite:///{tmp_path / 'store.sqlite3'}", keys, tmp_path / "archive")
    s.run(_fill, T0, 20)  # 40 records before the cut
    s.run(_fill, CUT + timedelta(minutes=5), 5)
    monkeypatch.setattr(sqlite_audit, "TRIM_STEP", 7)  # while others write: 7 a transaction
    monkeypatch.setattr(sqlite_audit, "TRIM_HOLD_S", 0.0)
    real = sqlite_audit._drop
    calls: list[int] = []

    def dies_in_the_third_batch(conn, chain, done, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(done)
        if len(calls) == 3:
            raise _Killed
        return real(conn, chain, done, *args, **kwargs)

    monkeypatch.setattr(sqlite_audit, "_drop", dies_in_the_third_batch)

    async def killed(store: Store) -> None:
        with pytest.raises(_Killed):
            await s.archive(store)

    s.run(killed)
    monkeypatch.setattr(sqlite_audit, "_drop", real)
    archived = s.run(lambda st: st.audit_archived())
    assert archived[AUDIT_CHAIN][0] == 14  # two batches of 7 gone, the third undone
    assert len(s.run(_all)) == 50 - 14
    code, out = s.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(s.folder))
    assert code == 0 and out.startswith("OK: 50 records"), out
    result = s.run(s.archive)
    assert result.segment is None and result.resumed == 1
    assert len(s.run(_all)) == 10
    code, out = s.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(s.folder))
    assert code == 0 and out.startswith("OK: 50 records"), out


def test_sqlite_trims_grow_while_no_one_else_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once no one else has written for TRIM_QUIET_S, each trim transaction drops twice
    as many records as the one before, up to TRIM_BATCH (few large ones cost far less than
    many small ones); the first one is small, in case the service is writing."""
    from app.storage.sqlite import audit as sqlite_audit

    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(f"sqlite:///{tmp_path / 'store.sqlite3'}", keys, tmp_path / "archive")
    s.run(_fill, T0, 20)  # 40 records before the cut
    monkeypatch.setattr(sqlite_audit, "TRIM_FIRST", 2)
    monkeypatch.setattr(sqlite_audit, "TRIM_BATCH", 8)
    monkeypatch.setattr(sqlite_audit, "TRIM_STEP", 1)
    monkeypatch.setattr(sqlite_audit, "TRIM_HOLD_S", 0.0)
    monkeypatch.setattr(sqlite_audit, "TRIM_QUIET_S", 0.0)
    ends = _trace_drops(monkeypatch)
    result = s.run(s.archive)
    assert result.records == 40
    assert ends == [1, 3, 7, 15, 23, 31, 39, 40]
    assert len(s.run(_all)) == 0


def test_sqlite_trims_take_turns_with_other_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another connection commits between them, each trim transaction drops
    TRIM_STEP records at a time only until it has held the lock TRIM_HOLD_S, and the next
    one waits for the other writer's turn (its commit) first."""
    from app.storage.sqlite import audit as sqlite_audit

    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    url = tmp_path / "store.sqlite3"
    s = Setup(f"sqlite:///{url}", keys, tmp_path / "archive")
    s.run(_fill, T0, 20)
    monkeypatch.setattr(sqlite_audit, "TRIM_STEP", 3)
    monkeypatch.setattr(sqlite_audit, "TRIM_HOLD_S", 0.0)
    monkeypatch.setattr(sqlite_audit, "TRIM_TURN_S", 5.0)
    ends = _trace_drops(monkeypatch)
    real_turn = sqlite_audit._await_turn
    commits: list[float] = []

    def another_writer_commits(conn, wait_s):  # type: ignore[no-untyped-def]
        # the other writer's commit lands while the trim waits for it
        timer = threading.Timer(0.01, lambda: commits.append(_scratch_commit(url)))
        timer.start()
        try:
            return real_turn(conn, wait_s)
        finally:
            timer.join()

    monkeypatch.setattr(sqlite_audit, "_await_turn", another_writer_commits)
    started = time.monotonic()
    result = s.run(s.archive)
    assert result.records == 40
    assert ends == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 40]
    assert len(commits) == 13  # one turn of the other writer between two transactions
    assert time.monotonic() - started < 5.0  # each turn ended at the other's commit


def test_sqlite_trim_undoes_its_transaction_when_a_record_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record of the archived run gone from the store (an edit of the file) stops the
    trim: the transaction that met the gap is undone whole, nothing of it dropped."""
    from app.domain.records import AuditTrim
    from app.storage._common import AUDIT_CHAIN
    from app.storage.sqlite import audit as sqlite_audit

    url = tmp_path / "store.sqlite3"
    s = Setup(f"sqlite:///{url}", tmp_path / "keys", tmp_path / "archive")
    s.run(_fill, T0, 20)
    head = s.run(_head)
    with sqlite3.connect(url) as conn:
        conn.execute("DELETE FROM audit WHERE chain = ? AND seq = 10", (AUDIT_CHAIN,))
    monkeypatch.setattr(sqlite_audit, "TRIM_STEP", 5)
    monkeypatch.setattr(sqlite_audit, "TRIM_HOLD_S", 60.0)  # one transaction: 1..40
    trim = AuditTrim(chain=AUDIT_CHAIN, upto=40, digest=head, before_us=0)
    assert s.run(lambda st: st.trim_archived(trim)) is False
    assert [seq for _c, seq in s.run(_all)] == [i for i in range(1, 41) if i != 10]
    assert s.run(lambda st: st.audit_archived()) == {}


def _trace_drops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The last record of each trim transaction, as it commits."""
    from app.storage.sqlite import audit as sqlite_audit

    real = sqlite_audit._drop
    ends: list[int] = []

    def traced(*args, **kwargs):  # type: ignore[no-untyped-def]
        at, last = real(*args, **kwargs)
        ends.append(at)
        return at, last

    monkeypatch.setattr(sqlite_audit, "_drop", traced)
    return ends


def _scratch_commit(path: Path) -> float:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
        conn.execute("INSERT INTO scratch VALUES (1)")
    return time.monotonic()


async def _head(store: Store) -> str:
    return [r.hash async for r in store.iter_audit_stored()][-1]


# -- the signed checkpoints: the store keeps only those the archive does not -----------
def _sign(setup: Setup, minute: int) -> bytes:
    """Append a check at CUT + `minute` and sign a checkpoint of the log."""
    keys = load_audit_keys(setup.keys)

    async def go(store: Store) -> bytes:
        when = CUT + timedelta(minutes=minute)
        await store.append_audit(make_event("verify", when=when, subject=SUBJECT, jti="x"))
        note = await sign_checkpoint(store, keys.name, keys.private, when)
        assert note is not None
        return note

    return setup.run(go)


def _kept(setup: Setup) -> tuple[list[bytes], tuple[int, str | None], int]:
    async def go(store: Store) -> tuple[list[bytes], tuple[int, str | None], int]:
        count, _latest = await store.latest_checkpoint()
        return await store.checkpoints(), await store.dropped_checkpoints(), count

    return setup.run(go)


def test_archive_drops_the_checkpoints_it_holds_but_the_newest(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = [_sign(setup, 10), _sign(setup, 11)]
    code, out = setup.cli(
        capsys, monkeypatch, "audit", "archive", "--before", CUT.isoformat(), "--to",
        str(setup.folder),
    )  # fmt: skip
    assert code == 0 and "dropped 1 signed checkpoint(s) from the store" in out, out
    kept, dropped, count = _kept(setup)
    assert kept == notes[1:] and dropped == (1, note_hash(notes[0])) and count == 2
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and "2 checkpoint(s) verified (2 of them in the archive)" in out, out
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 0 and "1 checkpoint(s) verified, 1 archived ones not read" in out, out
    # the next checkpoint follows the one kept, and a later run drops that one too
    notes.append(_sign(setup, 12))
    assert _kept(setup)[0] == notes[1:]
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and "3 checkpoint(s) verified (2 of them in the archive)" in out, out
    later = (CUT + timedelta(minutes=20)).isoformat()
    code, out = setup.cli(
        capsys, monkeypatch, "audit", "archive", "--before", later, "--to", str(setup.folder)
    )
    assert code == 0 and "dropped 1 signed checkpoint(s) from the store" in out, out
    assert _kept(setup) == (notes[2:], (2, note_hash(notes[1])), 3)
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and "3 checkpoint(s) verified (3 of them in the archive)" in out, out
    assert out.startswith("OK: 53 records"), out


def test_a_run_killed_before_dropping_checkpoints_is_finished_by_the_next(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The segment, its checkpoints and the records' drops are done; the process dies
    before the checkpoints go. The store still holds them all, the log verifies with its
    archive, and the next run (with nothing new to archive) drops them."""
    notes = [_sign(setup, 10), _sign(setup, 11)]

    async def killed(store: Store) -> None:
        async def dies(upto: int, last: bytes) -> bool:
            raise KeyboardInterrupt  # as a kill: nothing after this point runs

        store.trim_checkpoints = dies  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            await setup.archive(store)

    setup.run(killed)
    assert len(setup.run(_all)) == 12  # the records went
    assert _kept(setup) == (notes, (0, None), 2)
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and "2 checkpoint(s) verified (2 of them in the archive)" in out, out
    result = setup.run(setup.archive)
    assert result.segment is None and result.checkpoints == 1
    assert _kept(setup) == (notes[1:], (1, note_hash(notes[0])), 2)
    code, out = setup.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(setup.folder))
    assert code == 0 and out.startswith("OK: 52 records"), out


def test_checkpoints_are_dropped_only_when_the_archive_holds_them(
    setup: Setup, tmp_path: Path
) -> None:
    """A checkpoints file that is not what the store holds, or an archive folder that is
    not the one the store's checkpoints went to: the run refuses and drops nothing."""
    _sign(setup, 10)
    _sign(setup, 11)

    async def killed(store: Store) -> None:
        async def dies(upto: int, last: bytes) -> bool:
            raise KeyboardInterrupt

        store.trim_checkpoints = dies  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            await setup.archive(store)

    setup.run(killed)
    written = setup.folder / "segment-000001.checkpoints"
    good = written.read_bytes()
    notes = msgspec.json.decode(good, type=list[str])
    written.write_bytes(msgspec.json.encode([notes[1], *notes[1:]]))
    with pytest.raises(ConfigError, match="is not the store's checkpoint 1"):
        setup.run(setup.archive)
    assert _kept(setup)[1] == (0, None)
    written.write_bytes(good)
    assert setup.run(setup.archive).checkpoints == 1
    other = Setup(setup.url, setup.keys, tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="not the archive they went to"):
        other.run(other.archive)
    assert not list(other.folder.glob("segment-*"))
    assert _kept(setup)[1][0] == 1


@pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are Linux's")
def test_cli_archive_runs_below_the_service_but_trims_at_its_priority(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit archive` reads and compresses at a lower CPU priority (`--nice`, 10 by
    default), so a service on the same machine keeps its answer times; the SQLite store's
    thread, which holds the write lock while it drops records, keeps the service's
    priority (a lock holder kept waiting for the CPU holds up the service's writes)."""
    from app.cli import audit as cli_audit

    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(f"sqlite:///{tmp_path / 'store.sqlite3'}", keys, tmp_path / "archive")
    s.run(_fill, T0, 5)
    seen: dict[str, int] = {}
    real = cli_audit.archive_audit

    def priority(tid: int) -> int:
        return os.getpriority(os.PRIO_PROCESS, tid)

    async def observed(store, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen["archive"] = priority(threading.get_native_id())
        store_threads = [t for t in threading.enumerate() if t.name.startswith("statuspass-")]
        seen["store"] = max(priority(t.native_id or 0) for t in store_threads)
        compressing = await asyncio.to_thread(lambda: priority(threading.get_native_id()))
        seen["worker"] = compressing
        return await real(store, *args, **kwargs)

    monkeypatch.setattr(cli_audit, "archive_audit", observed)
    base = priority(threading.get_native_id())
    code, out = s.cli(
        capsys, monkeypatch, "audit", "archive", "--before", CUT.isoformat(), "--to", str(s.folder)
    )
    assert code == 0 and out.startswith("archived 10 records"), out
    assert seen == {"archive": min(19, base + 10), "store": base, "worker": min(19, base + 10)}
    if os.geteuid() == 0:  # only a privileged process may raise its priority back
        assert priority(threading.get_native_id()) == base
    code, out = s.cli(capsys, monkeypatch, "audit", "archive", "--before", "2020-01-01",
                      "--to", str(s.folder), "--nice", "-1")  # fmt: skip
    assert code != 0 and "--nice" in out, out


# -- a copy of an archived store verifies with the same archive ---------------------------
def _copy_after_archive(
    s: Setup,
    dst_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Archive `s` (its archived checkpoints dropped from the store), copy the store to
    `dst_url`: the copy verifies with the same archive folder, as one log, like the
    original, and the service goes on signing checkpoints on it."""
    import io

    from app.cli.store_copy import copy_store
    from app.keys.audit import public_keys, read_entries

    _sign(s, 1)
    _sign(s, 2)
    result = s.run(s.archive)
    assert result.records == 40 and result.checkpoints >= 1
    code, original = s.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(s.folder))
    assert code == 0, original
    counts = asyncio.run(
        copy_store(s.url, dst_url, out=io.StringIO(), audit_keys=public_keys(read_entries(s.keys)))
    )
    assert all(read == written for read, written in counts.values()), counts
    copy = Setup(dst_url, s.keys, s.folder)
    assert _kept(copy) == _kept(s)
    code, out = copy.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(s.folder))
    assert code == 0, out
    assert out.splitlines()[0] == original.splitlines()[0]
    _sign(copy, 3)  # the copy extends the checkpoint chain past the dropped ones
    code, out = copy.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(s.folder))
    assert code == 0, out


def test_a_copy_of_an_archived_store_verifies_with_its_archive(
    setup: Setup,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _copy_after_archive(setup, f"sqlite:///{tmp_path / 'copy.sqlite3'}", capsys, monkeypatch)


@pytest.mark.cluster
def test_an_archived_sqlite_store_copied_to_redis_verifies_with_its_archive(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(f"sqlite:///{tmp_path / 'store.sqlite3'}", keys, tmp_path / "archive")
    s.run(_fill, T0, 20)
    s.run(_fill, CUT + timedelta(minutes=5), 5)
    _copy_after_archive(s, store_url(request, "redis", tmp_path), capsys, monkeypatch)


def test_a_checkpoint_signed_when_every_record_is_archived_still_names_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet SQLite store whose records have all moved to the archive: the next signed
    checkpoint still covers the chain (as long as archived), so verify finds nothing
    shrunk."""
    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(f"sqlite:///{tmp_path / 'store.sqlite3'}", keys, tmp_path / "archive")
    s.run(_fill, T0, 20)
    assert s.run(s.archive).records == 40 and s.run(_all) == []
    code, out = s.cli(capsys, monkeypatch, "audit", "checkpoint", "--sign")
    assert code == 0, out
    code, out = s.cli(capsys, monkeypatch, "audit", "verify", "--archive", str(s.folder))
    assert code == 0 and out.startswith("OK: 40 records"), out
