"""How the SQLite store runs its SQL: one thread, group commit, and what an error of
SQLite means to the caller.

Each process opens its own connection and uses it from one dedicated thread: sqlite3
calls block (a lock wait lasts up to busy_timeout), and running them on the event loop
would stall every request of the worker. One thread, one connection: no locking of our
own, and the connection is never shared across threads. Short reads and group commits
run on two more connections of the loop's own thread (`Runner._read`, `Runner._write`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from app.errors import StoreUnavailable
from app.storage.sqlite.db import (
    Synchronous,
    checkpoint,
    connect,
    connect_loop_writer,
    connect_reader,
)
from app.storage.sqlite.tx import run_group

__all__ = ["Runner", "translate", "translated"]

T = TypeVar("T")
R = TypeVar("R", bound="Runner")

#: at most one WAL checkpoint (on the store's thread) per this many seconds of writes
_CHECKPOINT_EVERY_S = 0.25
#: how often a group commit tries again for the write lock held by another process
#: (the loop's timers have millisecond resolution)
_LOCK_POLL_S = 0.001

log = logging.getLogger("statuspass.store")


_Pending = tuple[Callable[[sqlite3.Connection], object], "asyncio.Future[object]"]


def translate(exc: BaseException) -> BaseException:
    """SQLite's "cannot do it now" is StoreUnavailable; anything else stays what it is.

    OperationalError covers "database is locked" (busy_timeout ran out), I/O and disk-full
    errors; DatabaseError a file that is not (or no longer) a database. IntegrityError is
    a bug of ours, not an outage, and is left alone.
    """
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        return StoreUnavailable(f"SQLite store unavailable: {exc}")
    return exc


@contextmanager
def translated() -> Iterator[None]:
    """Raise what `translate` makes of an SQLite error raised inside."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        mapped = translate(exc)
        if mapped is exc:
            raise
        raise mapped from exc


def _busy(exc: sqlite3.OperationalError) -> bool:
    """The write lock is held elsewhere (for longer than this connection waits)."""
    return "locked" in str(exc) or "busy" in str(exc)


class Runner:
    """The connections of one SQLite store and the ways to use them: `_run` on the
    store's thread, `_read` and `_write` (group commit) on the loop's. Build it with
    `await open(path)`."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        reader: sqlite3.Connection,
        loop_writer: sqlite3.Connection,
        timeout_s: float = 2.0,
    ) -> None:
        self._executor = executor
        self._timeout_s = timeout_s
        self._conn = conn
        self._reader = reader
        self._loop_writer = loop_writer
        self._closed = False
        self._pending: list[_Pending] = []
        self._draining = False
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._last_checkpoint = time.monotonic()

    @classmethod
    async def open(
        cls: type[R], path: str, *, timeout_s: float = 2.0, synchronous: Synchronous = "NORMAL"
    ) -> R:
        """Connect (on the store's own thread) and bring the schema up to date.

        Args:
            path: the database file; its directory must exist.
            timeout_s: how long a write waits for another process's lock before the
                operation fails with `StoreUnavailable`.
            synchronous: "NORMAL" (survives process crashes) or "FULL" (also power loss).
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statuspass-sqlite")
        try:
            conn = await _in_thread(
                executor, partial(connect, path, timeout_s=timeout_s, synchronous=synchronous)
            )
        except BaseException:
            executor.shutdown(wait=True)
            raise
        try:
            with translated():
                reader = connect_reader(path, timeout_s=timeout_s)
                loop_writer = connect_loop_writer(path, synchronous=synchronous)
        except StoreUnavailable:
            await _in_thread(executor, conn.close)
            executor.shutdown(wait=True)
            raise
        return cls(executor, conn, reader, loop_writer, timeout_s)

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        return await _in_thread(self._executor, partial(fn, self._conn, *args, **kwargs))

    def _read(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """A short indexed read on the loop's thread (WAL: a reader never waits).

        It runs on the connection that commits this worker's writes, not on the
        read-only one: a connection drops its page cache whenever another connection
        has committed, so after each group commit the reader went back to the file (or
        the WAL) for every page; the committing connection keeps its cache (measured:
        a read after another connection's commit 17-25 µs, after its own 4 µs). That
        connection never waits for a lock; in the rare case a read needs one
        (WAL recovery after a crash), the read-only connection, which waits longer,
        answers instead.
        """
        if self._closed:
            raise StoreUnavailable("the store is closed")
        with translated():
            try:
                return fn(self._loop_writer, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
            return fn(self._reader, *args, **kwargs)

    async def _write(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """A write, committed together with the writes that arrive while the previous
        group is being committed (group commit): under load one lock and one commit
        serve many requests; alone, a write is committed at once. Each caller resumes
        only after the commit that holds its write."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending.append((lambda conn: fn(conn, *args, **kwargs), future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future  # type: ignore[return-value]

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                calls = [fn for fn, _ in group]
                try:
                    outcomes = await self._commit(calls)
                except BaseException as exc:  # the commit itself failed: all of them did
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self._checkpoint_soon()
                for (_, future), (ok, value) in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        assert isinstance(value, BaseException)
                        future.set_exception(translate(value))
        finally:
            self._draining = False

    def _checkpoint_soon(self) -> None:
        """After a commit on the loop's thread: copy the WAL into the database on the
        store's thread, where its fsyncs stall no request.

        Commits go on meanwhile, so such a checkpoint rarely copies the very last
        frames, and SQLite only starts a WAL afresh once it is fully copied. That is
        left to the loop writer's own checkpoint (`LOOP_AUTOCHECKPOINT_PAGES`), which
        then finds all but the last few frames copied already and is short.
        """
        if self._checkpoint_task or time.monotonic() - self._last_checkpoint < _CHECKPOINT_EVERY_S:
            return
        # kept: the loop holds tasks only weakly
        self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            if not self._closed:
                await _in_thread(self._executor, partial(checkpoint, self._conn))
        except (StoreUnavailable, RuntimeError) as exc:
            # busy or closing: the next one (or the safety net in the commit) catches up
            log.debug("WAL checkpoint skipped: %s", type(exc).__name__)
        finally:
            self._last_checkpoint = time.monotonic()
            self._checkpoint_task = None

    async def _commit(
        self, calls: list[Callable[[sqlite3.Connection], object]]
    ) -> list[tuple[bool, object]]:
        """Commit a group on this thread. While another process holds the write lock
        (another worker's commit, a trim of `audit archive`), try again every
        `_LOCK_POLL_S`, yielding to the loop in between, for up to the store's timeout.

        Waiting in SQLite's busy handler instead stalled every request of the worker for
        the wait; handing the group to the store's thread made it wait for the GIL at
        each of its SQLite calls while the loop was busy (~5 ms each: p99 of verify
        40 ms while `audit archive` trimmed, `bench/archive_latency.py`)."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            with translated():
                try:
                    return run_group(self._loop_writer, calls)
                except sqlite3.OperationalError as exc:
                    # BEGIN IMMEDIATE did not get the lock: nothing of the group was written
                    if not _busy(exc) or time.monotonic() >= deadline:
                        raise
            await asyncio.sleep(_LOCK_POLL_S)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # queued behind any call still pending on the thread, so those finish first; after
        # it the thread is idle and shutdown returns at once
        try:
            self._reader.close()
            self._loop_writer.close()
            await _in_thread(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=True)


async def _in_thread(executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
    """Run `fn` on the store's thread, its SQLite errors translated (`translate`)."""
    loop = asyncio.get_running_loop()
    try:
        with translated():
            return await loop.run_in_executor(executor, fn)
    except RuntimeError as exc:
        # the executor refuses work once shut down: same thing as a closed store
        if "shutdown" in str(exc):
            raise StoreUnavailable("the store is closed") from exc
        raise
