"""`statuspass audit archive`: move the oldest audit records into compressed, append-only
segment files (`segments`), safely.

The order of a run, so that a crash anywhere loses nothing and a re-run finishes it:
sign a checkpoint; write the segment to a temporary file, fsync it, rename it, fsync the
folder; only then drop the archived records from the store, chain by chain, each drop
refused unless the store's record is the one archived (`Store.trim_archived`); then
drop the checkpoints the archive now holds, all but the newest of them (the next
checkpoint names it), refused unless each one is the one archived
(`Store.trim_checkpoints`). A re-run first completes the drops of segments already on
disk, and never archives a record or a checkpoint twice.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.format import VERIFICATION_ACTIONS
from app.audit.segments import (
    archive_checkpoints,
    end_line,
    scan,
    segment_path,
    write_file,
)
from app.audit.service import sign_checkpoint
from app.audit.writer import SegmentWriter
from app.domain.dates import to_us
from app.domain.events import event_keys_checked, event_time_us
from app.domain.ports import Store
from app.domain.records import AuditTrim, StoredAudit
from app.errors import ConfigError

__all__ = ["ArchiveResult", "archive_audit"]


@dataclass
class ArchiveResult:
    segments: list[Path] = field(default_factory=list)  # the segment files written
    records: int = 0
    chains: int = 0
    resumed: int = 0  # chains whose drop an interrupted run had left to do
    bytes: int = 0
    checkpoints: int = 0  # signed checkpoints dropped from the store (the archive has them)

    @property
    def segment(self) -> Path | None:
        """The last segment written, if any."""
        return self.segments[-1] if self.segments else None

    @property
    def written(self) -> str:
        """The segment files written, for a person: one name, or the first and last."""
        names = [p.name for p in self.segments]
        return names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}" if names else ""


@dataclass
class _Run:
    chain: str
    first: int
    prev: str
    last: int = 0
    head: str = ""
    count: int = 0
    #: (subject, seq) of the checks in the run, for the store's verification index
    checks: list[tuple[str, int]] = field(default_factory=list)

    def end(self) -> bytes:
        return end_line(self.chain, self.last, self.head)


async def archive_audit(
    store: Store,
    folder: Path,
    before: datetime,
    *,
    signer: tuple[str, Ed25519PrivateKey],
    now: datetime,
    level: int = 6,
) -> ArchiveResult:
    """Move every chain's records older than `before` (the run of them at its start)
    into a new segment under `folder`; see the module docstring for the order of steps.
    File work runs off the event loop, so a service archiving keeps answering."""
    lock = await asyncio.to_thread(_lock, folder)
    if lock is None:
        raise ConfigError(f"another archive run holds {folder}")
    try:
        result = ArchiveResult()
        before_us = to_us(before)
        segments, on_disk = await asyncio.to_thread(scan, folder)
        result.resumed = await _finish_drops(store, folder, on_disk, before_us)
        archived = await asyncio.to_thread(archive_checkpoints, folder)
        result.checkpoints = await _drop_checkpoints(store, folder, archived)
        await sign_checkpoint(store, signer[0], signer[1], now)
        number = (segments[-1][0] + 1) if segments else 1
        runs = await _write_segment(store, folder, number, before_us, level, result, archived)
        for run in runs:  # the segment is on disk: now, and only now, drop from the store
            trim = AuditTrim(
                chain=run.chain,
                upto=run.last,
                digest=run.head,
                before_us=before_us,
                checks=tuple(run.checks),
            )
            if not await store.trim_archived(trim):
                raise ConfigError(f"chain {run.chain} changed while it was archived: re-run")
            result.records += run.count
            result.chains += 1
        result.checkpoints += await _drop_checkpoints(store, folder, archived)
        return result
    finally:
        os.close(lock)


def _lock(folder: Path) -> int | None:
    """An exclusive lock on the archive folder (workers of a service, a cron job), or
    None when another run holds it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


async def _finish_drops(
    store: Store, folder: Path, on_disk: dict[str, tuple[int, str]], before_us: int
) -> int:
    """Drop from the store what segments on disk hold and an interrupted run left there;
    how many chains that was."""
    resumed = 0
    archived = await store.audit_archived()
    for chain, (last, head) in sorted(on_disk.items()):
        if archived.get(chain, (0, "", 0))[0] < last:
            trim = AuditTrim(chain=chain, upto=last, digest=head, before_us=before_us)
            if not await store.trim_archived(trim):
                raise ConfigError(
                    f"the archive in {folder} holds chain {chain} up to record {last}, "
                    "which the store does not hold as archived: refusing to go on"
                )
            resumed += 1
    return resumed


async def _drop_checkpoints(store: Store, folder: Path, archived: list[tuple[str, bytes]]) -> int:
    """Drop from the store the checkpoints `archived` (those in `folder`) holds, all but
    the newest of them, unless done already; how many. Refused unless each one dropped
    is exactly the one archived at its place."""
    dropped, _last = await store.dropped_checkpoints()
    upto = len(archived) - 1
    if dropped > max(upto, 0):
        raise ConfigError(
            f"the store dropped {dropped} checkpoint(s) into an archive, {folder} holds "
            f"{len(archived)}: not the archive they went to, refusing to go on"
        )
    if upto <= dropped:
        return 0
    stored = await store.checkpoints()
    for i, (source, note) in enumerate(archived[dropped:upto]):
        if i >= len(stored) or stored[i] != note:
            raise ConfigError(
                f"{folder / source} is not the store's checkpoint {dropped + i + 1}: "
                "refusing to drop it"
            )
    if not await store.trim_checkpoints(upto, archived[upto - 1][1]):
        raise ConfigError("the store's checkpoints changed while they were archived: re-run")
    return upto - dropped


async def _write_segment(
    store: Store,
    folder: Path,
    number: int,
    before_us: int,
    level: int,
    result: ArchiveResult,
    archived: list[tuple[str, bytes]],
) -> list[_Run]:
    """Write segment `number` (and its checkpoints) with every record not archived yet
    and older than `before_us`, on disk when this returns; its runs, none if there was
    nothing to archive (then no file is left). The checkpoints written are added to
    `archived`."""
    done = {c: last for c, (last, _h, _b) in (await store.audit_archived()).items()}
    # each segment keeps the checkpoints signed since the previous one's; the store
    # counts the ones it dropped (the archive holds them), so the archive's count is the
    # place of the first one it does not hold
    dropped, _last = await store.dropped_checkpoints()
    stored = await store.checkpoints()
    if not dropped <= len(archived) <= dropped + len(stored):
        raise ConfigError(
            f"{folder} holds {len(archived)} checkpoint(s), the store {dropped} dropped and "
            f"{len(stored)} kept: not this store's archive, refusing to go on"
        )
    notes = stored[len(archived) - dropped :]
    writer = SegmentWriter(folder, number, level=level)
    runs: list[_Run] = []
    try:
        checks = store.separate_verification_index  # SQLite's index goes with the rows
        run: _Run | None = None
        stopped: set[str] = set()
        async for r in store.iter_audit_stored():
            if r.chain in stopped or r.seq <= done.get(r.chain, 0):
                continue
            if event_time_us(r.data) >= before_us:
                stopped.add(r.chain)  # records after the first one kept stay too
                continue
            if run is None or run.chain != r.chain:
                writer.end()
                run = _Run(r.chain, r.seq, r.prev)
                runs.append(run)
                await writer.begin(r.chain, r.seq, r.prev)
            await writer.add(r.seq, r.data, r.hash)
            if checks and (check := _check_of(r)) is not None:
                run.checks.append(check)
            run.last, run.head = r.seq, r.hash
            run.count += 1
        writer.end()
        result.segments = await writer.close()
    except BaseException:
        await writer.abort()
        raise
    if runs:
        # beside the run's last segment, once it is on disk: a run that dies before this
        # leaves these checkpoints in the store, and the next run's segment takes them
        checkpoints = msgspec.json.encode([n.decode("utf-8") for n in notes])
        kept = segment_path(folder, writer.number, "checkpoints")
        await asyncio.to_thread(write_file, kept, checkpoints)
    result.bytes = writer.bytes
    if runs:
        name = segment_path(folder, writer.number, "checkpoints").name
        archived += [(f"{name} #{i}", note) for i, note in enumerate(notes, 1)]
    return runs


def _check_of(r: StoredAudit) -> tuple[str, int] | None:
    """(subject, seq) when `r` is a check of a citizen (what a store's verification index
    points at), from the columns a store keeps beside the bytes or else the bytes."""
    if r.columns:
        columns = dict(r.columns)
        action, subject = columns.get("action"), columns.get("subject")
    else:
        try:
            action, subject, _canonical = event_keys_checked(r.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # `audit verify` reports it; its index entry stays, never shown
    if action in VERIFICATION_ACTIONS and subject is not None:
        return subject, r.seq
    return None
