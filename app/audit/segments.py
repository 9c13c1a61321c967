"""The archive's segment files: their format, written safely and read back.

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
A file is on disk once `commit` returned: written to a temporary file, fsynced, renamed,
the folder fsynced.
"""

from __future__ import annotations

import os
import re
import secrets
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import msgspec

from app.audit.format import ARCHIVE_GROUP, record_hash
from app.domain.records import StoredAudit
from app.errors import ConfigError

__all__ = [
    "MAGIC",
    "MAGIC_V1",
    "ArchiveRead",
    "archive_checkpoints",
    "chain_line",
    "commit",
    "end_line",
    "open_tmp",
    "read_archive",
    "read_segment",
    "record_lines",
    "scan",
    "segment_path",
    "segments",
    "write_file",
]

MAGIC = b"statuspass-audit-segment/2"
#: segments written before events were binary: one JSON event per line
MAGIC_V1 = b"statuspass-audit-segment/1"
#: compressed bytes read at a time
_CHUNK = 1 << 20
_SEGMENT = re.compile(r"segment-(\d{6})\.audit\.gz")


def segment_path(folder: Path, number: int, suffix: str = "audit.gz") -> Path:
    """Segment `number` in `folder` (`suffix` "checkpoints": the file beside it)."""
    return folder / f"segment-{number:06d}.{suffix}"


def chain_line(chain: str, first: int, prev: str) -> bytes:
    return f"chain {chain} {first} {prev}\n".encode()


def record_lines(data: bytes) -> bytes:
    return b"+%d\n%b\n" % (len(data), data)


def end_line(chain: str, last: int, head: str) -> bytes:
    return f"end {chain} {last} {head}\n".encode()


def segments(folder: Path) -> list[tuple[int, Path]]:
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


def open_tmp(path: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file beside `path`, mode 0600 from its first byte."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return tmp, os.fdopen(fd, "wb")


def commit(tmp: Path, raw: IO[bytes], path: Path) -> int:
    """fsync the file, rename it to `path`, fsync the folder: then it is on disk."""
    raw.flush()
    os.fsync(raw.fileno())
    raw.close()
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path.stat().st_size


def write_file(path: Path, data: bytes) -> int:
    tmp, raw = open_tmp(path)
    try:
        raw.write(data)
        return commit(tmp, raw, path)
    except BaseException:
        raw.close()
        tmp.unlink(missing_ok=True)
        raise


def scan(folder: Path) -> tuple[list[tuple[int, Path]], dict[str, tuple[int, str]]]:
    """The segments in `folder` (made if missing) and, per chain, the last record they
    hold; temporary files of a run that died before its rename are removed (nothing
    was dropped from the store for them)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob(".segment-*.tmp"):
        stale.unlink()
    found = segments(folder)
    numbers = {n for n, _p in found}
    for kept in folder.glob("segment-*.checkpoints"):
        # beside no segment: left by a run that died before its segment was on disk
        # (nothing was dropped from the store for it)
        if kept.name[8:14].isdigit() and int(kept.name[8:14]) not in numbers:
            kept.unlink()
    on_disk: dict[str, tuple[int, str]] = {}
    for _n, path in found:
        for chain, end in _ends(path).items():
            if end[0] > on_disk.get(chain, (0, ""))[0]:
                on_disk[chain] = end
    return found, on_disk


def _ends(path: Path) -> dict[str, tuple[int, str]]:
    """chain -> (last seq, hash) of a segment, from its `end` lines."""
    ends = {}
    for line in _lines(path):
        if line is not None and line.startswith(b"end "):
            _, chain, last, head = line.decode("utf-8").split(" ")
            ends[chain] = (int(last), head)
    return ends


def _inflate(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file, a chunk at a time (members one after the
    other, as gzip reads them).

    Raises:
        EOFError: the file ends inside a member. zlib.error: not gzip, or corrupt.
    """
    with path.open("rb") as f:
        inflater = zlib.decompressobj(wbits=31)
        fed = False
        while chunk := f.read(_CHUNK):
            while chunk:
                fed = True
                out = inflater.decompress(chunk)
                if out:
                    yield out
                if not inflater.eof:
                    break
                chunk = inflater.unused_data
                inflater, fed = zlib.decompressobj(wbits=31), False
        if fed and not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker")


def _lines(path: Path, data: list[bytes] | None = None) -> Iterator[bytes | None]:
    """The `chain` and `end` lines of a segment; None for each record, whose bytes are
    then `data[0]` (when a list is given: only a reader of records needs them).

    Raises:
        ConfigError: not a segment. ValueError: a record's length line is broken.
        EOFError, zlib.error: the file is cut short or corrupt.
    """
    sized: bool | None = None  # before the first line: not known yet
    buf, pos = b"", 0
    for chunk in _inflate(path):
        buf, pos = buf[pos:] + chunk, 0
        while (nl := buf.find(b"\n", pos)) >= 0:
            line = buf[pos:nl]
            if sized is None:
                if line not in (MAGIC, MAGIC_V1):
                    raise ConfigError(f"{path} is not an audit segment")
                sized, pos = line == MAGIC, nl + 1
            elif line.startswith((b"chain ", b"end ")):
                pos = nl + 1
                yield line
            elif not sized:  # the first format: the line is the record
                pos = nl + 1
                if data is not None:
                    data[0] = line
                yield None
            elif line.startswith(b"+") and line[1:].isdigit():
                stop = nl + 1 + int(line[1:])
                if stop >= len(buf):
                    break  # the rest of the record is in the next chunk
                if buf[stop] != 0x0A:
                    raise ValueError("a record's length does not match its bytes")
                if data is not None:
                    data[0] = buf[nl + 1 : stop]
                pos = stop + 1
                yield None
            else:
                raise ValueError(f"not a record length: {line[:20]!r}")
    if sized is None:
        raise ConfigError(f"{path} is not an audit segment")
    rest = buf[pos:]
    if rest and (sized or not rest.startswith((b"chain ", b"end "))):
        if sized:
            raise ValueError("a record shorter than its length")
        if data is not None:
            data[0] = rest
        yield None
    elif rest:
        yield rest


@dataclass
class ArchiveRead:
    problems: list[str] = field(default_factory=list)


def archive_checkpoints(folder: Path) -> list[tuple[str, bytes]]:
    """The checkpoints kept beside the segments, named by file and place."""
    notes = []
    for n, path in segments(folder):
        kept = segment_path(path.parent, n, "checkpoints")
        if kept.exists():
            for i, note in enumerate(msgspec.json.decode(kept.read_bytes(), type=list[str])):
                notes.append((f"{kept.name} #{i + 1}", note.encode("utf-8")))
    return notes


def read_archive(folder: Path, out: ArchiveRead) -> Iterator[StoredAudit]:
    """Every archived record, segment by segment (`read_segment`)."""
    for _n, path in segments(folder):
        yield from read_segment(path, out)


def read_segment(path: Path, out: ArchiveRead) -> Iterator[StoredAudit]:
    """Every record of one segment, with its hash recomputed from its bytes; an `end`
    line that does not match is a problem (in `out.problems`), as is a broken file."""
    chain, seq, prev = "", 0, ""
    record = [b""]
    try:
        for line in _lines(path, record):
            if line is None:
                data = record[0]
                digest = record_hash(chain, seq, prev, data)
                yield StoredAudit(
                    chain=chain, seq=seq, prev=prev, hash=digest, data=data, group=ARCHIVE_GROUP
                )
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
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        out.problems.append(f"{path.name}: unreadable ({exc})")
