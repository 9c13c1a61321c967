"""`statuspass audit archive`: older records move to compressed segment files, nothing is
lost on a crash between the steps, and archive + store verify as one log."""

from __future__ import annotations

import asyncio
import gzip
import os
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
    monkeypatch.setattr(sqlite_audit, "TRIM_BATCH", 7)
    real = sqlite_audit._hash_at
    calls: list[int] = []

    def dies_in_the_third_batch(conn, chain, seq):  # type: ignore[no-untyped-def]
        calls.append(seq)
        if len(calls) == 4:  # the whole run's last record, then one call per batch
            raise _Killed
        return real(conn, chain, seq)

    monkeypatch.setattr(sqlite_audit, "_hash_at", dies_in_the_third_batch)

    async def killed(store: Store) -> None:
        with pytest.raises(_Killed):
            await s.archive(store)

    s.run(killed)
    monkeypatch.setattr(sqlite_audit, "_hash_at", real)
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
    """Alone, each trim transaction drops twice as many records as the one before, up to
    TRIM_BATCH (few large ones cost far less than many small ones)."""
    from app.storage.sqlite import audit as sqlite_audit

    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    s = Setup(f"sqlite:///{tmp_path / 'store.sqlite3'}", keys, tmp_path / "archive")
    s.run(_fill, T0, 20)  # 40 records before the cut
    monkeypatch.setattr(sqlite_audit, "TRIM_FIRST", 2)
    monkeypatch.setattr(sqlite_audit, "TRIM_BATCH", 8)
    real = sqlite_audit._hash_at
    steps: list[int] = []

    def traced(conn, chain, seq):  # type: ignore[no-untyped-def]
        steps.append(seq)
        return real(conn, chain, seq)

    monkeypatch.setattr(sqlite_audit, "_hash_at", traced)
    result = s.run(s.archive)
    assert result.records == 40
    assert steps == [40, 2, 6, 14, 22, 30, 38, 40]  # the last record, then each batch's
    assert len(s.run(_all)) == 0


def test_sqlite_trims_shrink_to_their_time_while_others_write() -> None:
    """With the service writing in the pauses, a trim transaction drops what fits in
    TRIM_HOLD_S at the pace of the one before (growing at most twofold)."""
    from app.storage.sqlite.audit import TRIM_BATCH, TRIM_HOLD_S, _next_size

    assert _next_size(1000, 4 * TRIM_HOLD_S, busy=True) == 250
    assert _next_size(1000, TRIM_HOLD_S / 10, busy=True) == 2000
    assert _next_size(10, 1.0, busy=True) == 1
    assert _next_size(1000, 4 * TRIM_HOLD_S, busy=False) == 2000
    assert _next_size(TRIM_BATCH, 1.0, busy=False) == TRIM_BATCH


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
