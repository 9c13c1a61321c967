"""Tampering with the audit log as its own operator could, on every store: each change
must be found by `statuspass audit verify`, reported as plain lines that say where,
with a non-zero exit and no traceback.

The log: checks of one citizen (a chain of their shard on Redis), events of nobody (the
global chain), a signed checkpoint that a witness keeps a copy of, then more records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from audit_tamper import RedisTamper, Row, SqliteTamper, Tamper
from conftest import store_url
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from factories import T0, make_event

from app.audit.archive import archive_audit
from app.audit.checkpoints import note_hash, open_note
from app.audit.format import record_hash
from app.audit.service import sign_checkpoint
from app.cli import main
from app.domain.events import decode_event
from app.keys.audit import load_audit_keys, rotate_audit_key
from app.storage import open_store

SUBJECT = "5a" * 32  # a pseudonym (hex HMAC): on Redis it has a shard of its own
ORIGIN = "test.example/audit"
BACKENDS = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.cluster),
    pytest.param("cluster", marks=pytest.mark.cluster),
]


class Log:
    """A populated store, its keys folder and the witness's copy of a checkpoint."""

    def __init__(self, url: str, keys: Path, witness: Path, tamper: Tamper) -> None:
        self.url, self.keys, self.witness, self.tamper = url, keys, witness, tamper

    @property
    def citizen_chain(self) -> str:
        return "main" if self.url.startswith("sqlite") else self._chain_of(SUBJECT)

    def _chain_of(self, subject: str) -> str:
        label = str(int(subject[:8], 16) % 16)
        chains = asyncio.run(_heads(self.url))
        return next(c for c in chains if c.startswith(f"{label}/"))

    @property
    def other_chain(self) -> str:
        chains = asyncio.run(_heads(self.url))
        return next(c for c in sorted(chains) if c != self.citizen_chain)

    def verify(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *extra: str
    ) -> tuple[int, list[str]]:
        monkeypatch.setenv("STATUSPASS_STORE_URL", self.url)
        monkeypatch.setenv("STATUSPASS_KEYS_DIR", str(self.keys))
        capsys.readouterr()
        code = main(["audit", "verify", "--checkpoint", str(self.witness), *extra])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out.splitlines()


async def _heads(url: str) -> dict[str, tuple[int, str]]:
    store = await open_store(url)
    try:
        return await store.audit_heads()
    finally:
        await store.close()


async def _populate(url: str, keys: Path) -> bytes:
    """Fill the log; return the first checkpoint (the one a witness keeps)."""
    audit_keys = load_audit_keys(keys)
    store = await open_store(url)
    try:
        for i in range(6):
            when = T0 + timedelta(seconds=i)
            await store.append_audit(
                make_event(
                    "verify", when=when, subject=SUBJECT, jti=f"j{i}", org="Museum", result="valid"
                )
            )
            await store.append_audit(make_event("client_add", when=when))
        note = await sign_checkpoint(
            store, audit_keys.name, audit_keys.private, T0 + timedelta(minutes=1)
        )
        assert note is not None
        for i in range(6, 8):  # the log since the checkpoint
            when = T0 + timedelta(minutes=2, seconds=i)
            await store.append_audit(
                make_event(
                    "verify", when=when, subject=SUBJECT, jti=f"j{i}", org="Pool", result="valid"
                )
            )
            await store.append_audit(make_event("client_add", when=when))
        assert await sign_checkpoint(
            store, audit_keys.name, audit_keys.private, T0 + timedelta(minutes=3)
        )
    finally:
        await store.close()
    return note


@pytest.fixture(params=BACKENDS)
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    url = store_url(request, request.param, tmp_path)
    keys = tmp_path / "keys"
    rotate_audit_key(keys, name=ORIGIN)
    witness = tmp_path / "witness.checkpoint"
    witness.write_bytes(asyncio.run(_populate(url, keys)))
    tamper: Tamper = (
        SqliteTamper(url.removeprefix("sqlite:///"))
        if request.param == "sqlite"
        else RedisTamper(url)
    )
    try:
        yield Log(url, keys, witness, tamper)
    finally:
        tamper.close()


def test_untouched_log_verifies(
    log: Log, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = log.verify(capsys, monkeypatch)
    assert code == 0, lines
    assert lines[-1].startswith("OK: 16 records")
    assert "3 checkpoint(s) verified" in lines[-1]  # 2 kept in the store + the witness's


def _rehash(chain: str, rows: list[Row], start: int = 0) -> list[Row]:
    """What a careful forger does: recompute every hash from `start` on."""
    out = list(rows[:start])
    prev = rows[start - 1][2] if start else "0" * 64
    for seq, _prev, _hash, data, cols in rows[start:]:
        digest = record_hash(chain, seq, prev, data)
        out.append((seq, prev, digest, data, cols))
        prev = digest
    return out


def _check(rows: list[Row], n: int = 1) -> int:
    """The position of the citizen's n-th check (from 0) among `rows`."""
    return [i for i, r in enumerate(rows) if decode_event(r[3]).action == "verify"][n]


def _edit_byte(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    i = _check(rows)
    seq, prev, digest, data, cols = rows[i]
    rows[i] = (seq, prev, digest, data.replace(b"valid", b"VALID", 1), cols)
    log.tamper.put(chain, rows)
    return f"chain {chain} record {seq}: its bytes do not match its hash"


def _edit_link(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    i = _check(rows)
    seq, _prev, digest, data, cols = rows[i]
    rows[i] = (seq, "1" * 64, digest, data, cols)
    log.tamper.put(chain, rows)
    return f"chain {chain} record {seq}: does not link"


def _hide_from_citizen(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    row = rows[_check(rows)]
    log.tamper.hide_check(chain, row)
    if log.url.startswith("sqlite"):
        return f"chain {chain} record {row[0]}: its subject column disagrees with its hashed event"
    return "check(s) of its subject are not listed (hidden)"


def _duplicate_key(log: Log) -> str:
    # the newest record (no checkpoint covers it yet), with its hash recomputed: only
    # reading it strictly finds the second "result"
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    seq, prev, _digest, data, cols = rows[-1]
    forged = data[:-1] + b',"result":"FORGED"}'
    rows[-1] = (seq, prev, record_hash(chain, seq, prev, forged), forged, cols)
    log.tamper.put(chain, rows)
    return f"chain {chain} record {seq}: not in canonical form"


def _delete_one(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    log.tamper.put(chain, rows[:1] + rows[2:])
    return f"chain {chain}: record(s) 2 missing"


def _reorder(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    a, b = rows[1], rows[2]
    # each keeps the other's place: the records' own seq fields say where they belonged
    rows[1], rows[2] = (a[0], *b[1:]), (b[0], *a[1:])  # type: ignore[assignment]
    log.tamper.put(chain, rows)
    return f"chain {chain} record 2:"


def _move_to_other_chain(log: Log) -> str:
    chain, other = log.citizen_chain, ("other" if log.url.startswith("sqlite") else log.other_chain)
    rows = log.tamper.rows(chain)
    moved = rows.pop(1)
    log.tamper.put(chain, rows)
    others = log.tamper.rows(other) if other != "other" else []
    seq = len(others) + 1
    log.tamper.put(other, [*others, (seq, *moved[1:])])  # type: ignore[list-item]
    return f"chain {chain}: record(s) 2 missing"


def _truncate_tail(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    log.tamper.put(chain, rows[:4])
    return f"chain {chain}: holds 4 records"


def _delete_chain(log: Log) -> str:
    chain = log.citizen_chain
    log.tamper.drop_chain(chain)
    return f"chain {chain}: missing"


def _rewrite(log: Log) -> str:
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    i = _check(rows)
    seq, prev, digest, data, cols = rows[i]
    rows[i] = (seq, prev, digest, data.replace(b"Museum", b"Musees"), cols)
    log.tamper.put(chain, _rehash(chain, rows))
    return f"chain {chain} record "  # "... is not the record stored checkpoint 1 signed"


def _forge_checkpoints(log: Log) -> str:
    # rewrite the log, then sign new checkpoints of it with a key of one's own
    _rewrite(log)
    forged = Ed25519PrivateKey.generate()
    from app.audit.checkpoints import Checkpoint, sign_note

    heads = asyncio.run(_heads(log.url))
    note = sign_note(Checkpoint(origin=ORIGIN, time=T0, previous=None, lanes=heads), ORIGIN, forged)
    log.tamper.set_notes([note])
    return "stored checkpoint 1: signed by no known audit key"


def _alter_checkpoint(log: Log) -> str:
    notes = log.tamper.notes()
    text = notes[0].decode()
    lines = text.split("\n")
    lines[3] = "time 2026-03-01T11:00:00Z"  # back-dated
    log.tamper.set_notes(["\n".join(lines).encode(), *notes[1:]])
    return "stored checkpoint 1: the signature of test.example/audit"


def _drop_first_checkpoint(log: Log) -> str:
    log.tamper.set_notes(log.tamper.notes()[1:])
    return "stored checkpoint 1: names a predecessor that is not kept"


CASES: dict[str, Callable[[Log], str]] = {
    "edit one byte": _edit_byte,
    "edit the link field": _edit_link,
    "hide a check from its citizen": _hide_from_citizen,
    "duplicate key": _duplicate_key,
    "delete a record": _delete_one,
    "reorder two records": _reorder,
    "move a record to another chain": _move_to_other_chain,
    "truncate the tail": _truncate_tail,
    "delete a whole chain": _delete_chain,
    "rewrite with recomputed hashes": _rewrite,
    "forge the checkpoints": _forge_checkpoints,
    "alter a checkpoint": _alter_checkpoint,
    "drop a checkpoint": _drop_first_checkpoint,
}


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_found(
    log: Log, case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = CASES[case](log)
    code, lines = log.verify(capsys, monkeypatch)
    assert code == 1, lines
    assert lines[0].startswith("BROKEN: ")
    problems = lines[1:]
    assert any(expected in line for line in problems), (expected, problems)
    assert all("\n" not in p and p for p in problems)


def test_rewrite_is_found_by_the_kept_checkpoints_alone(
    log: Log, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a witness, the checkpoints in the store still pin every chain."""
    _rewrite(log)
    log.witness = tmp_path / "none.checkpoint"
    notes = log.tamper.notes()
    log.witness.write_bytes(notes[-1])  # the store's own latest: no outside knowledge
    code, lines = log.verify(capsys, monkeypatch)
    assert code == 1
    assert any("is not the record stored checkpoint 1" in line for line in lines), lines


def test_witness_checkpoint_is_a_c2sp_signed_note(log: Log) -> None:
    keys = load_audit_keys(log.keys)
    checkpoint, signer = open_note(log.witness.read_bytes(), keys.verifiers())
    text = log.witness.read_text()
    body, _, signature = text.partition("\n\n")
    assert body.split("\n")[:2] == [ORIGIN, "12"]
    assert signature.startswith(f"\u2014 {ORIGIN} ")
    assert signer == f"{ORIGIN}+{keys.entries[0].key_id}"
    assert checkpoint.size == 12


async def _answer(url: str) -> list[str | None]:
    store = await open_store(url)
    try:
        return [e.org for e in await store.verifications_for(SUBJECT, 100)]
    finally:
        await store.close()


def test_a_citizen_is_answered_only_from_bytes_their_hashes_cover(log: Log) -> None:
    assert sorted(asyncio.run(_answer(log.url))) == ["Museum"] * 6 + ["Pool"] * 2
    chain = log.citizen_chain
    rows = log.tamper.rows(chain)
    i = _check(rows)
    seq, prev, digest, data, cols = rows[i]
    rows[i] = (seq, prev, digest, data.replace(b"Museum", b"Forged"), cols)
    log.tamper.put(chain, rows)
    answer = asyncio.run(_answer(log.url))
    assert "Forged" not in answer
    assert len(answer) == 7  # the edited record is left out (and `audit verify` says where)


# -- after archive runs: the checkpoints the archive holds are gone from the store ------
async def _archive_twice(url: str, keys: Path, folder: Path) -> list[bytes]:
    """Archive the log's start, sign two more checkpoints, archive again, sign two more:
    the archive holds checkpoints 1-2 (segment 1) and 3-4 (segment 2), the store keeps
    4-6 and records that it dropped 3. Returns checkpoints 1-6."""
    audit_keys = load_audit_keys(keys)
    signer = (audit_keys.name, audit_keys.private)
    store = await open_store(url)
    try:
        notes = list(await store.checkpoints())

        async def more(minute: int) -> None:
            when = T0 + timedelta(minutes=minute)
            await store.append_audit(make_event("verify", when=when, subject=SUBJECT, jti="x"))
            await store.append_audit(make_event("client_add", when=when))
            note = await sign_checkpoint(store, *signer, when + timedelta(seconds=30))
            assert note is not None
            notes.append(note)

        cut = T0 + timedelta(minutes=1)
        await archive_audit(store, folder, cut, signer=signer, now=cut)
        await more(5)
        await more(7)
        cut = T0 + timedelta(minutes=6)
        await archive_audit(store, folder, cut, signer=signer, now=cut)
        await more(10)
        await more(12)
        assert await store.checkpoints() == notes[3:]
        assert await store.dropped_checkpoints() == (3, note_hash(notes[2]))
    finally:
        await store.close()
    return notes


@pytest.fixture
def archived(log: Log, tmp_path: Path) -> tuple[Log, Path, list[bytes]]:
    folder = tmp_path / "archive"
    notes = asyncio.run(_archive_twice(log.url, log.keys, folder))
    return log, folder, notes


def test_archived_log_verifies_with_and_without_its_archive(
    archived: tuple[Log, Path, list[bytes]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, folder, _notes = archived
    code, lines = log.verify(capsys, monkeypatch, "--archive", str(folder))
    assert code == 0, lines
    # 6 signed (1-4 in the archive, 4-6 in the store) and the witness's copy of the first
    assert "7 checkpoint(s) verified (4 of them in the archive)" in lines[-1], lines
    code, lines = log.verify(capsys, monkeypatch)
    assert code == 0, lines
    assert "4 checkpoint(s) verified, 3 archived ones not read" in lines[-1], lines


def _delete_kept_and_move_the_mark(log: Log, notes: list[bytes]) -> str:
    # checkpoints 4 and 5, which no archive holds, go; the mark says they were dropped
    log.tamper.set_notes(notes[5:])
    log.tamper.set_dropped(5, note_hash(notes[4]))
    return "the store dropped 5 checkpoint(s), the archive holds 4"


def _delete_kept_and_edit_the_mark(log: Log, notes: list[bytes]) -> str:
    # the same, with the count left as it was
    log.tamper.set_notes(notes[5:])
    log.tamper.set_dropped(3, note_hash(notes[4]))
    return "the last checkpoint the store dropped is not segment-000002.checkpoints #1"


def _edit_the_mark_hash(log: Log, notes: list[bytes]) -> str:
    log.tamper.set_dropped(3, note_hash(notes[1]))
    return "stored checkpoint 1: does not follow the last checkpoint the store dropped"


def _edit_the_mark_count(log: Log, notes: list[bytes]) -> str:
    log.tamper.set_dropped(2, note_hash(notes[2]))
    return "the last checkpoint the store dropped is not segment-000001.checkpoints #2"


ARCHIVED_CASES: dict[str, Callable[[Log, list[bytes]], str]] = {
    "delete kept checkpoints, move the mark": _delete_kept_and_move_the_mark,
    "delete kept checkpoints, edit the mark": _delete_kept_and_edit_the_mark,
    "edit the mark's hash": _edit_the_mark_hash,
    "edit the mark's count": _edit_the_mark_count,
}


@pytest.mark.parametrize("case", list(ARCHIVED_CASES))
def test_tampering_with_the_checkpoints_after_an_archive_is_found(
    archived: tuple[Log, Path, list[bytes]],
    case: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, folder, notes = archived
    expected = ARCHIVED_CASES[case](log, notes)
    code, lines = log.verify(capsys, monkeypatch, "--archive", str(folder))
    assert code == 1, lines
    assert lines[0].startswith("BROKEN: ")
    assert any(expected in line for line in lines[1:]), (expected, lines)


@pytest.mark.parametrize("segment", [1, 2])
def test_a_checkpoints_file_deleted_from_the_archive_is_found(
    archived: tuple[Log, Path, list[bytes]],
    segment: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, folder, _notes = archived
    (folder / f"segment-{segment:06d}.checkpoints").unlink()
    code, lines = log.verify(capsys, monkeypatch, "--archive", str(folder))
    assert code == 1, lines
    expected = "the store dropped 3 checkpoint(s), the archive holds 2"
    assert any(expected in line for line in lines[1:]), lines
    if segment == 1:  # what is left of the archive's checkpoints starts mid-chain
        first = "segment-000002.checkpoints #1: names a predecessor that is not kept"
        assert any(first in line for line in lines[1:]), lines
