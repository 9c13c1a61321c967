"""The embedded store: one SQLite file in WAL mode, shared by several worker processes.

Each process opens its own connection and uses it from one dedicated thread: sqlite3
calls block (a lock wait lasts up to busy_timeout), and running them on the event loop
would stall every request of the worker. One thread, one connection: no locking of our
own, and the connection is never shared across threads.

Writes are `BEGIN IMMEDIATE` transactions (`tx.immediate`), which is what makes the
store safe across processes: whatever a write reads to decide (a version, a code, the audit
head) cannot change before it commits.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TypeVar

from app.domain.records import (
    AuditEvent,
    AuditRecord,
    AuditTrim,
    CardRecord,
    CheckOutcome,
    CheckRequest,
    ClientRecord,
    Entitlement,
    EntitlementWrite,
    ProofRecord,
    StatusRef,
    StoredAudit,
)
from app.errors import StoreUnavailable
from app.storage.sqlite import audit as audit_ops
from app.storage.sqlite import checks as check_ops
from app.storage.sqlite import records as record_ops
from app.storage.sqlite.db import (
    Synchronous,
    checkpoint,
    connect,
    connect_loop_writer,
    connect_reader,
)
from app.storage.sqlite.tx import run_group

__all__ = ["SqliteStore"]

T = TypeVar("T")

#: audit records per page of `iter_audit`: memory stays flat however long the log is
_AUDIT_PAGE = 1_000
#: at most one WAL checkpoint (on the store's thread) per this many seconds of writes
_CHECKPOINT_EVERY_S = 0.25

log = logging.getLogger("statuspass.store")


_Pending = tuple[Callable[[sqlite3.Connection], object], "asyncio.Future[object]"]


class SqliteStore:
    """`app.domain.ports.Store` on SQLite. Build it with `await SqliteStore.open(path)`."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        reader: sqlite3.Connection,
        loop_writer: sqlite3.Connection,
    ) -> None:
        self._executor = executor
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
        cls, path: str, *, timeout_s: float = 2.0, synchronous: Synchronous = "NORMAL"
    ) -> SqliteStore:
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
            reader = connect_reader(path, timeout_s=timeout_s)
            loop_writer = connect_loop_writer(path, synchronous=synchronous)
        except sqlite3.DatabaseError as exc:
            await _in_thread(executor, conn.close)
            executor.shutdown(wait=True)
            raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc
        return cls(executor, conn, reader, loop_writer)

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
        connection waits at most 5 ms for a lock; in the rare case a read needs one
        (WAL recovery after a crash), the read-only connection, which waits longer,
        answers instead.
        """
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            try:
                return fn(self._loop_writer, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            return fn(self._reader, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc

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
                        future.set_exception(_translate(value))
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
        """Commit a group on this thread; if the write lock is held elsewhere for more
        than a few milliseconds, on the store's thread instead (it may wait longer)."""
        try:
            return run_group(self._loop_writer, calls)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc
        # BEGIN IMMEDIATE did not get the lock: nothing of the group was written
        return await _in_thread(self._executor, partial(run_group, self._conn, calls))

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

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

    # -- API clients ---------------------------------------------------------------
    async def add_client(self, client: ClientRecord, audit: AuditEvent) -> None:
        await self._run(record_ops.add_client, client, audit)

    async def get_client_by_key_hash(self, key_hash: str) -> ClientRecord | None:
        return self._read(record_ops.get_client_by_key_hash, key_hash)

    async def get_client(self, client_id: str) -> ClientRecord | None:
        return self._read(record_ops.get_client, client_id)

    async def list_clients(self) -> list[ClientRecord]:
        return await self._run(record_ops.list_clients)

    async def revoke_client(self, client_id: str, at: datetime, audit: AuditEvent) -> bool:
        return await self._run(record_ops.revoke_client, client_id, at, audit)

    # -- entitlements and status lists --------------------------------------------
    async def allocate_status_ref(self, subject: str) -> StatusRef:
        # one shard: every subject shares the lists, the subject does not matter here
        return await self._run(record_ops.allocate_status_ref)

    async def get_entitlement(self, type_id: str, subject: str) -> Entitlement | None:
        return self._read(record_ops.get_entitlement, type_id, subject)

    async def list_entitlements(self, subject: str) -> list[Entitlement]:
        return self._read(record_ops.list_entitlements, subject)

    async def save_entitlement(self, write: EntitlementWrite) -> None:
        await self._write(record_ops.save_entitlement, write)

    async def get_entitlements(self, keys: Sequence[tuple[str, str]]) -> list[Entitlement | None]:
        return self._read(record_ops.get_entitlements, list(keys))

    async def allocate_status_refs(self, subjects: Sequence[str]) -> list[StatusRef]:
        # one shard: the subjects only say how many
        return await self._run(record_ops.allocate_status_refs, len(subjects))

    async def save_entitlements(self, writes: Sequence[EntitlementWrite]) -> list[bool]:
        return await self._write(record_ops.save_entitlements, list(writes))

    async def get_cards(self, numbers: Sequence[str]) -> list[CardRecord]:
        return self._read(record_ops.get_cards, numbers)

    async def get_status(self, ref: StatusRef) -> int:
        return self._read(record_ops.get_status, ref)

    async def status_list_ids(self) -> list[str]:
        return await self._run(record_ops.status_list_ids)

    async def status_list_bytes(self, list_id: str) -> bytes | None:
        return await self._run(record_ops.status_list_bytes, list_id)

    # -- proofs, codes, checks ------------------------------------------------------
    async def save_proof(self, proof: ProofRecord, code: str | None, audit: AuditEvent) -> bool:
        return await self._write(check_ops.save_proof, proof, code, audit)

    async def get_proof_by_code(self, code: str, now: datetime) -> ProofRecord | None:
        return self._read(check_ops.get_proof_by_code, code, now)

    async def check_and_record(self, check: CheckRequest) -> CheckOutcome:
        return await self._write(check_ops.check_and_record, check)

    async def hit_rate(self, key: str, window_s: int, now: datetime) -> int:
        return await self._write(check_ops.hit_rate, key, window_s, now)

    async def undo_hit(self, key: str, window_s: int, now: datetime) -> None:
        await self._write(check_ops.undo_hit, key, window_s, now)

    async def rate_count(self, key: str, window_s: int, now: datetime) -> int:
        return self._read(check_ops.rate_count, key, window_s, now)

    # -- audit ----------------------------------------------------------------------
    async def append_audit(self, event: AuditEvent) -> None:
        await self._write(audit_ops.append_audit, event)

    async def iter_audit(self) -> AsyncIterator[AuditRecord]:
        after = ("", 0)
        while True:
            page = await self._run(audit_ops.audit_page, after, _AUDIT_PAGE)
            for record in page:
                yield record
            if len(page) < _AUDIT_PAGE:
                return
            after = (page[-1].chain, page[-1].seq)

    async def verifications_for(self, subject: str, limit: int) -> list[AuditEvent]:
        return self._read(audit_ops.verifications_for, subject, limit)

    #: the verification index is the `subject` column of each record, checked record by
    #: record: there is no separate index to compare
    separate_verification_index = False
    verification_cap: int | None = None

    async def iter_audit_stored(self) -> AsyncIterator[StoredAudit]:
        after = ("", 0)
        while True:
            page = await self._run(audit_ops.stored_page, after, _AUDIT_PAGE)
            for record in page:
                yield record
            if len(page) < _AUDIT_PAGE:
                return
            after = (page[-1].chain, page[-1].seq)

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        return await self._run(audit_ops.audit_heads)

    async def verification_pointers(
        self, group: str, subjects: Sequence[str]
    ) -> list[list[tuple[str, int]]]:
        return [[] for _ in subjects]

    async def add_checkpoint(self, note: bytes, expected_count: int) -> bool:
        return await self._run(audit_ops.add_checkpoint, note, expected_count)

    async def checkpoints(self) -> list[bytes]:
        return await self._run(audit_ops.checkpoints)

    async def latest_checkpoint(self) -> tuple[int, bytes | None]:
        return await self._run(audit_ops.latest_checkpoint)

    async def audit_archived(self) -> dict[str, tuple[int, str, int]]:
        return await self._run(audit_ops.archived)

    async def trim_archived(self, trim: AuditTrim) -> bool:
        # the index of checks is the records' own (subject, action) index: it goes with them
        return await self._run(audit_ops.trim_archived, trim)


def _translate(exc: BaseException) -> BaseException:
    """One write of a group failed: SQLite's "cannot now" is StoreUnavailable."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        return StoreUnavailable(f"SQLite store unavailable: {exc}")
    return exc


async def _in_thread(executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
    """Run `fn` on the store's thread; SQLite's "cannot do it now" becomes StoreUnavailable.

    OperationalError covers "database is locked" (busy_timeout ran out), I/O and disk-full
    errors; DatabaseError a file that is not (or no longer) a database. IntegrityError is
    a bug of ours, not an outage, and is left alone.
    """
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(executor, fn)
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc
    except RuntimeError as exc:
        # the executor refuses work once shut down: same thing as a closed store
        if "shutdown" in str(exc):
            raise StoreUnavailable("the store is closed") from exc
        raise
