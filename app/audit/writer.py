"""The writing side of an archive run: records into segment files (`segments`) of at
most `SEGMENT_RECORDS` records each, so that `audit verify` can read several segments at
once (`audit.parallel`). A chain whose run goes on past a segment's end is closed there
with its `end` line and goes on in the next segment with a `chain` line naming the
record before it, as if archived by another run.

Compression runs off the event loop, while the next lines are gathered; each file is
on disk (fsynced, renamed, folder fsynced) before the next one is begun.
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import IO

from app.audit.segments import (
    MAGIC,
    chain_line,
    commit,
    end_line,
    open_tmp,
    record_lines,
    segment_path,
)

__all__ = ["SEGMENT_RECORDS", "SegmentWriter"]

#: records in one segment file at most
SEGMENT_RECORDS = 1_000_000
#: lines gathered before one write to the compressor
_FLUSH = 4096


class SegmentWriter:
    """Segments `number`, `number + 1`, … in `folder`, written as records come."""

    def __init__(self, folder: Path, number: int, *, level: int, limit: int | None = None):
        self.folder, self.number, self.level = folder, number, level
        self.limit = limit or SEGMENT_RECORDS
        self.paths: list[Path] = []  # the segments on disk
        self.bytes = 0
        self._tmp: Path | None = None
        self._raw: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None
        self._writing: asyncio.Future[int] | None = None
        self._lines: list[bytes] = []
        self._count = 0  # records in the open file
        self._chain: tuple[str, int, str] | None = None  # the open run: chain, last, head

    @property
    def path(self) -> Path:
        """The segment being written (the last one, once closed)."""
        return segment_path(self.folder, self.number)

    async def begin(self, chain: str, first: int, prev: str) -> None:
        """A run of `chain` from record `first`, whose predecessor hashes to `prev`."""
        if self._gz is None:
            await self._open()
        self._lines.append(chain_line(chain, first, prev))
        self._chain = (chain, first - 1, prev)

    async def add(self, seq: int, data: bytes, digest: str) -> None:
        """The next record of the open run."""
        assert self._chain is not None
        chain, last, head = self._chain
        if self._count >= self.limit:
            self._lines.append(end_line(chain, last, head))
            await self._close_file()
            self.number += 1
            await self._open()
            self._lines.append(chain_line(chain, seq, head))
        self._lines.append(record_lines(data))
        self._chain = (chain, seq, digest)
        self._count += 1
        if len(self._lines) >= _FLUSH:
            await self._flush()

    def end(self) -> None:
        """The open run is complete."""
        if self._chain is not None:
            chain, last, head = self._chain
            self._lines.append(end_line(chain, last, head))
            self._chain = None

    async def close(self) -> list[Path]:
        """Put the last segment on disk; every segment written (none: no file left)."""
        if self._gz is not None:
            if self._count == 0:
                await self.abort()
            else:
                await self._close_file()
        return self.paths

    async def abort(self) -> None:
        """Remove the segment being written (those on disk stay: a re-run drops their
        records from the store)."""
        if self._writing is not None:
            await asyncio.wait([self._writing])  # never close the file under a write
            self._writing = None
        if self._raw is not None:
            self._raw.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._gz = self._raw = self._tmp = None

    async def _open(self) -> None:
        self._tmp, self._raw = await asyncio.to_thread(open_tmp, self.path)
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=self.level, mtime=0)
        self._lines = [MAGIC + b"\n"]
        self._count = 0

    async def _flush(self) -> None:
        assert self._gz is not None
        if self._writing is not None:
            # shielded: a cancelled run must not stop waiting for a write still running
            # in its thread (`abort` waits for it before closing the file)
            await asyncio.shield(self._writing)
        self._writing = asyncio.ensure_future(
            asyncio.to_thread(self._gz.write, b"".join(self._lines))
        )
        self._lines = []

    async def _close_file(self) -> None:
        assert self._gz is not None and self._raw is not None and self._tmp is not None
        await self._flush()
        assert self._writing is not None
        await asyncio.shield(self._writing)
        self._writing = None
        await asyncio.to_thread(self._gz.close)
        self.bytes += await asyncio.to_thread(commit, self._tmp, self._raw, self.path)
        self.paths.append(self.path)
        self._gz = self._raw = self._tmp = None
