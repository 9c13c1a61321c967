"""The archive's part of `audit verify`, its segments read side by side.

Each segment is checked on its own (`check_segment`, in a worker process when there are
several): every record's hash from its bytes and its link to the one before, its bytes
held to their canonical form, what the checkpoints signed of it, its `end` lines. What
comes back is small: each run of a chain (first record and the hash it links to, last
record and its hash), the problems found and the records the store may still hold. The
runs are then joined in segment order (`Walk.splice`), so a segment missing, reordered
or cut short breaks a chain exactly as when read in one pass.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app.audit.replay import AuditReport, Expect, Walk
from app.audit.segments import ArchiveRead, read_segment, segments

__all__ = ["SegmentCheck", "check_archive", "check_segment"]

#: worker processes at most (each reads one segment at a time)
MAX_WORKERS = 4


@dataclass
class SegmentCheck:
    #: (chain, first seq, hash it links to, last seq, hash of the last)
    runs: list[tuple[str, int, str, int, str]] = field(default_factory=list)
    records: int = 0
    problems: list[str] = field(default_factory=list)
    #: chain -> seq -> hash of records past what the store says it archived
    overlap: dict[str, dict[int, str]] = field(default_factory=dict)


def check_segment(
    path: Path, expect: dict[str, dict[int, Expect]], archived_upto: dict[str, int]
) -> SegmentCheck:
    """Check one segment on its own (see the module docstring)."""
    report = AuditReport()
    walk = Walk(report, expect)
    walk.overlap, walk.archived_upto, walk.collect = {}, archived_upto, True
    read = ArchiveRead()
    runs: list[tuple[str, int, str, int, str]] = []
    begun: tuple[str, int, str] | None = None
    for r in read_segment(path, read):
        if r.chain != walk.chain or r.seq != walk.next_seq or r.prev != walk.prev:
            if begun is not None:
                runs.append((*begun, walk.next_seq - 1, walk.prev))
            begun = (r.chain, r.seq, r.prev)
            walk.resume(r.chain, r.seq, r.prev)
        walk.record(r, False)
    if begun is not None:
        runs.append((*begun, walk.next_seq - 1, walk.prev))
    return SegmentCheck(runs, report.records, read.problems + report.problems, walk.overlap)


async def check_archive(
    folder: Path,
    walk: Walk,
    archived_upto: dict[str, int],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Check every segment of `folder` and join them, in order, into `walk` (its report
    counts their records and gets their problems; `walk.overlap` the records the store
    may still hold)."""
    paths = [path for _n, path in segments(folder)]
    walk.overlap = {}
    if not paths:
        return
    loop = asyncio.get_running_loop()
    workers = min(len(paths), os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2:  # one after the other, off the event loop
        for p in paths:
            check = asyncio.to_thread(check_segment, p, walk.expect, archived_upto)
            await _join([asyncio.ensure_future(check)], walk, progress)
        return
    # spawned, not forked: the parent has threads (the store's) whose locks a fork copies
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        checks = [
            loop.run_in_executor(pool, check_segment, p, walk.expect, archived_upto) for p in paths
        ]
        await _join(checks, walk, progress)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # the segments not begun: dropped
        raise
    pool.shutdown()


async def _join(
    checks: list[asyncio.Future[SegmentCheck]],
    walk: Walk,
    progress: Callable[[int], None] | None,
) -> None:
    overlap = walk.overlap
    assert overlap is not None
    for pending in checks:
        check = await pending
        walk.report.problems += check.problems
        walk.report.records += check.records
        for chain, first, prev, last, head in check.runs:
            walk.splice(chain, first, prev, last, head)
        for chain, seqs in check.overlap.items():
            overlap.setdefault(chain, {}).update(seqs)
        if progress:
            progress(walk.report.records)
    walk.pause()
