"""`statuspass audit archive`: move the oldest audit records into compressed, append-only
segment files, safely, and read them back for `audit verify --archive`.

A segment (`segment-NNNNNN.audit.gz`, mode 0600, never rewritten) holds, for each chain,
a run of records as their exact stored event bytes, each after a line with its length
(events are binary, `records.encode_event`):

    statuspass-audit-segment/2
    chain <name> <first seq> <hash of the record before it>
    +<length>
    <event bytes>
    …
    end <name> <last seq> <hash of the last record>

Segments of the first format (`…/1`: one JSON event per line, no lengths) are read too.

Hashes are not stored per record: they are recomputed from the bytes, and the `end`
line, the store's record of what it archived and the signed checkpoints pin them. Beside
each segment, `segment-NNNNNN.checkpoints` keeps the checkpoints signed until then.

The order of a run, so that a crash anywhere loses nothing and a re-run finishes it:
sign a checkpoint; write the segment to a temporary file, fsync it, rename it, fsync the
folder; only then drop the archived records from the store, chain by chain, each drop
refused unless the store's record is the one archived (`Store.trim_archived`). A re-run
first completes the drops of segments already on disk, and never archives a record
twice.
"""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.format import ARCHIVE_GROUP, VERIFICATION_ACTIONS, record_hash
from app.audit.service import sign_checkpoint
from app.domain.dates import to_us
from app.domain.ports import Store
from app.domain.records import AuditTrim, StoredAudit, decode_event, event_time_us
from app.errors import ConfigError

__all__ = ["ArchiveRead", "ArchiveResult", "archive_audit", "archive_checkpoints", "read_archive"]

MAGIC = b"statuspass-audit-segment/2"
#: segments written before events were binary: one JSON event per line
MAGIC_V1 = b"statuspass-audit-segment/1"
_SEGMENT = re.compile(r"segment-(\d{6})\.audit\.gz")


#: lines gathered before one write to the compressor (off the event loop)
_FLUSH = 4096


@dataclass
class ArchiveResult:
    segment: Path | None = None
    records: int = 0
    chains: int = 0
    resumed: int = 0  # chains whose drop an interrupted run had left to do
    bytes: int = 0


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
        return f"end {self.chain} {self.last} {self.head}\n".encode()


def _segments(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for p in folder.iterdir():
        match = _SEGMENT.fullmatch(p.name)
        if match:
            found.append((int(match[1]), p))
    return sorted(found)


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _open_tmp(path: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file beside `path`, mode 0600 from its first byte."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return tmp, os.fdopen(fd, "wb")


def _commit(tmp: Path, raw: IO[bytes], path: Path) -> int:
    """fsync the file, rename it to `path`, fsync the folder: then it is on disk."""
    raw.flush()
    os.fsync(raw.fileno())
    raw.close()
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path.stat().st_size


def _write_file(path: Path, data: bytes) -> int:
    tmp, raw = _open_tmp(path)
    try:
        raw.write(data)
        return _commit(tmp, raw, path)
    except BaseException:
        raw.close()
        tmp.unlink(missing_ok=True)
        raise


def _scan(folder: Path) -> tuple[list[tuple[int, Path]], dict[str, tuple[int, str]]]:
    """The segments in `folder` (made if missing) and, per chain, the last record they
    hold; temporary files of a run that died before its rename are removed (nothing
    was dropped from the store for them)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob(".segment-*.tmp"):
        stale.unlink()
    segments = _segments(folder)
    on_disk: dict[str, tuple[int, str]] = {}
    for _n, path in segments:
        for chain, end in _ends(path).items():
            if end[0] > on_disk.get(chain, (0, ""))[0]:
                on_disk[chain] = end
    return segments, on_disk


def _ends(path: Path) -> dict[str, tuple[int, str]]:
    """chain -> (last seq, hash) of a segment, from its `end` lines."""
    ends = {}
    for line in _lines(path):
        if line is not None and line.startswith(b"end "):
            _, chain, last, head = line.decode("utf-8").split(" ")
            ends[chain] = (int(last), head)
    return ends


def _lines(path: Path, data: list[bytes] | None = None) -> Iterator[bytes | None]:
    """The `chain` and `end` lines of a segment; None for each record, whose bytes are
    then `data[0]` (when a list is given: only a reader of records needs them).

    Raises:
        ConfigError: not a segment. ValueError: a record's length line is broken.
    """
    with gzip.open(path, "rb") as f:
        first = f.readline().rstrip(b"\n")
        if first not in (MAGIC, MAGIC_V1):
            raise ConfigError(f"{path} is not an audit segment")
        sized = first == MAGIC
        for line in f:
            line = line.rstrip(b"\n")
            if line.startswith((b"chain ", b"end ")):
                yield line
                continue
            if sized:
                if not line.startswith(b"+"):
                    raise ValueError(f"not a record length: {line[:20]!r}")
                size = int(line[1:])
                line = f.read(size + 1)
                if len(line) != size + 1 or line[-1:] != b"\n":
                    raise ValueError("a record shorter than its length")
                line = line[:-1]
            if data is not None:
                data[:] = [line]
            yield None


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
        return await _archive(store, folder, before, signer=signer, now=now, level=level)
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


async def _archive(
    store: Store,
    folder: Path,
    before: datetime,
    *,
    signer: tuple[str, Ed25519PrivateKey],
    now: datetime,
    level: int,
) -> ArchiveResult:
    result = ArchiveResult()
    before_us = to_us(before)
    segments, on_disk = await asyncio.to_thread(_scan, folder)
    archived = await store.audit_archived()
    for chain, (last, head) in sorted(on_disk.items()):
        if archived.get(chain, (0, "", 0))[0] < last:
            trim = AuditTrim(chain=chain, upto=last, digest=head, before_us=before_us)
            if not await store.trim_archived(trim):
                raise ConfigError(
                    f"the archive in {folder} holds chain {chain} up to record {last}, "
                    "which the store does not hold as archived: refusing to go on"
                )
            result.resumed += 1
    await sign_checkpoint(store, signer[0], signer[1], now)
    done = {c: last for c, (last, _h, _b) in (await store.audit_archived()).items()}
    number = (segments[-1][0] + 1) if segments else 1
    path = folder / f"segment-{number:06d}.audit.gz"
    # each segment keeps the checkpoints signed since the previous one's
    kept = len(await asyncio.to_thread(archive_checkpoints, folder))
    notes = (await store.checkpoints())[kept:]
    tmp, raw = await asyncio.to_thread(_open_tmp, path)
    runs: list[_Run] = []
    try:
        gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0)
        buffer = [MAGIC + b"\n"]
        run: _Run | None = None
        stopped: set[str] = set()
        async for r in store.iter_audit_stored():
            if r.chain in stopped or r.seq <= done.get(r.chain, 0):
                continue
            if event_time_us(r.data) >= before_us:
                stopped.add(r.chain)  # records after the first one kept stay too
                continue
            if run is None or run.chain != r.chain:
                if run is not None:
                    buffer.append(run.end())
                run = _Run(r.chain, r.seq, r.prev)
                runs.append(run)
                buffer.append(f"chain {r.chain} {r.seq} {r.prev}\n".encode())
            buffer.append(b"+%d\n%b\n" % (len(r.data), r.data))
            check = _check_of(r)
            if check is not None:
                run.checks.append(check)
            run.last, run.head = r.seq, r.hash
            run.count += 1
            if len(buffer) >= _FLUSH:
                await asyncio.to_thread(gz.write, b"".join(buffer))
                buffer.clear()
        if run is not None:
            buffer.append(run.end())
        await asyncio.to_thread(gz.write, b"".join(buffer))
        gz.close()
        if not runs:
            raw.close()
            tmp.unlink()
            return result
        checkpoints = msgspec.json.encode([n.decode("utf-8") for n in notes])
        await asyncio.to_thread(
            _write_file, folder / f"segment-{number:06d}.checkpoints", checkpoints
        )
        result.bytes = await asyncio.to_thread(_commit, tmp, raw, path)
    except BaseException:
        raw.close()
        tmp.unlink(missing_ok=True)
        raise
    result.segment = path
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
    return result


def _check_of(r: StoredAudit) -> tuple[str, int] | None:
    """(subject, seq) when `r` is a check of a citizen (what a store's verification index
    points at), from the columns a store keeps beside the bytes or else the bytes."""
    if r.columns:
        columns = dict(r.columns)
        action, subject = columns.get("action"), columns.get("subject")
    else:
        try:
            event = decode_event(r.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # `audit verify` reports it; its index entry stays, never shown
        action, subject = event.action, event.subject
    if action in VERIFICATION_ACTIONS and subject is not None:
        return subject, r.seq
    return None


@dataclass
class ArchiveRead:
    problems: list[str] = field(default_factory=list)


def archive_checkpoints(folder: Path) -> list[tuple[str, bytes]]:
    """The checkpoints kept beside the segments, named by file and place."""
    notes = []
    for n, path in _segments(folder):
        kept = path.with_name(f"segment-{n:06d}.checkpoints")
        if kept.exists():
            for i, note in enumerate(msgspec.json.decode(kept.read_bytes(), type=list[str])):
                notes.append((f"{kept.name} #{i + 1}", note.encode("utf-8")))
    return notes


def read_archive(folder: Path, out: ArchiveRead) -> Iterator[StoredAudit]:
    """Every archived record, segment by segment, with its hash recomputed from its bytes;
    an `end` line that does not match is a problem (in `out.problems`)."""
    for _n, path in _segments(folder):
        chain, seq, prev = "", 0, ""
        record: list[bytes] = []
        try:
            for line in _lines(path, record):
                if line is None:
                    data = record[0]
                    digest = record_hash(chain, seq, prev, data)
                    yield StoredAudit(
                        chain=chain, seq=seq, prev=prev, hash=digest, data=data,
                        group=ARCHIVE_GROUP,
                    )  # fmt: skip
                    seq, prev = seq + 1, digest
                elif line.startswith(b"chain "):
                    _, chain, first, prev = line.decode("utf-8").split(" ")
                    seq = int(first)
                elif line.startswith(b"end "):
                    _, _chain, last, head = line.decode("utf-8").split(" ")
                    if (seq - 1, prev) != (int(last), head):
                        out.problems.append(
                            f"{path.name}: chain {chain} does not hash to the head it records"
                            f" (record {last}: edited, added or removed)"
                        )
        except (OSError, EOFError, ValueError, gzip.BadGzipFile) as exc:
            out.problems.append(f"{path.name}: unreadable ({exc})")
