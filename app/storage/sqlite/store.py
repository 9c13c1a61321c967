"""The embedded store: one SQLite file in WAL mode, shared by several worker processes.

How its SQL runs (one thread per process, reads and group commits on the loop's thread,
SQLite errors as `StoreUnavailable`) is `runner`; what each operation does is `records`,
`checks`, `audit` and `checkpoints`.

Writes are `BEGIN IMMEDIATE` transactions (`tx.immediate`), which is what makes the
store safe across processes: whatever a write reads to decide (a version, a code, the audit
head) cannot change before it commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from app.domain import records
from app.storage.sqlite import audit as audit_ops
from app.storage.sqlite import checkpoints as checkpoint_ops
from app.storage.sqlite import checks as check_ops
from app.storage.sqlite import records as record_ops
from app.storage.sqlite.runner import Runner

__all__ = ["SqliteStore"]


#: audit records per page of `iter_audit`: memory stays flat however long the log is
_AUDIT_PAGE = 1_000
_Paged = TypeVar("_Paged", records.AuditRecord, records.StoredAudit)


class SqliteStore(Runner):
    """`app.domain.ports.Store` on SQLite. Build it with `await SqliteStore.open(path)`."""

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    # -- API clients ---------------------------------------------------------------
    async def add_client(self, client: records.ClientRecord, audit: records.AuditEvent) -> None:
        await self._run(record_ops.add_client, client, audit)

    async def get_client_by_key_hash(self, key_hash: str) -> records.ClientRecord | None:
        return self._read(record_ops.get_client_by_key_hash, key_hash)

    async def get_client(self, client_id: str) -> records.ClientRecord | None:
        return self._read(record_ops.get_client, client_id)

    async def list_clients(self) -> list[records.ClientRecord]:
        return await self._run(record_ops.list_clients)

    async def revoke_client(self, client_id: str, at: datetime, audit: records.AuditEvent) -> bool:
        return await self._run(record_ops.revoke_client, client_id, at, audit)

    # -- entitlements and status lists --------------------------------------------
    async def allocate_status_ref(self, subject: str) -> records.StatusRef:
        # one shard: every subject shares the lists, the subject does not matter here
        return await self._run(record_ops.allocate_status_ref)

    async def get_entitlement(self, type_id: str, subject: str) -> records.Entitlement | None:
        return self._read(record_ops.get_entitlement, type_id, subject)

    async def list_entitlements(self, subject: str) -> list[records.Entitlement]:
        return self._read(record_ops.list_entitlements, subject)

    async def save_entitlement(self, write: records.EntitlementWrite) -> None:
        await self._write(record_ops.save_entitlement, write)

    async def get_entitlements(
        self, keys: Sequence[tuple[str, str]]
    ) -> list[records.Entitlement | None]:
        return self._read(record_ops.get_entitlements, list(keys))

    async def allocate_status_refs(self, subjects: Sequence[str]) -> list[records.StatusRef]:
        # one shard: the subjects only say how many
        return await self._run(record_ops.allocate_status_refs, len(subjects))

    async def save_entitlements(self, writes: Sequence[records.EntitlementWrite]) -> list[bool]:
        return await self._write(record_ops.save_entitlements, list(writes))

    async def get_cards(self, numbers: Sequence[str]) -> list[records.CardRecord]:
        return self._read(record_ops.get_cards, numbers)

    async def get_status(self, ref: records.StatusRef) -> int:
        return self._read(record_ops.get_status, ref)

    async def status_list_ids(self) -> list[str]:
        return await self._run(record_ops.status_list_ids)

    async def status_list_bytes(self, list_id: str) -> bytes | None:
        return await self._run(record_ops.status_list_bytes, list_id)

    # -- proofs, codes, checks ------------------------------------------------------
    def entitlement_hint(self, type_id: str, subject: str) -> records.Entitlement | None:
        return None  # a read is a local B-tree lookup: nothing to save by remembering

    async def save_proof(
        self,
        proof: records.ProofRecord,
        code: str | None,
        audit: records.AuditEvent,
        basis: records.Entitlement | None = None,
    ) -> bool:
        return await self._write(check_ops.save_proof, proof, code, audit, basis)

    async def get_proof_by_code(self, code: str, now: datetime) -> records.ProofRecord | None:
        return self._read(check_ops.get_proof_by_code, code, now)

    async def check_and_record(self, check: records.CheckRequest) -> records.CheckOutcome:
        return await self._write(check_ops.check_and_record, check)

    async def hit_rate(self, key: str, window_s: int, now: datetime) -> int:
        return await self._write(check_ops.hit_rate, key, window_s, now)

    async def undo_hit(self, key: str, window_s: int, now: datetime) -> None:
        await self._write(check_ops.undo_hit, key, window_s, now)

    async def rate_count(self, key: str, window_s: int, now: datetime) -> int:
        return self._read(check_ops.rate_count, key, window_s, now)

    # -- audit ----------------------------------------------------------------------
    async def append_audit(self, event: records.AuditEvent) -> None:
        await self._write(audit_ops.append_audit, event)

    def iter_audit(self) -> AsyncIterator[records.AuditRecord]:
        return self._pages(audit_ops.audit_page)

    async def verifications_for(self, subject: str, limit: int) -> list[records.AuditEvent]:
        return self._read(audit_ops.verifications_for, subject, limit)

    #: the verification index is the `subject` column of each record, checked record by
    #: record: there is no separate index to compare
    separate_verification_index = False
    verification_cap: int | None = None

    def iter_audit_stored(self) -> AsyncIterator[records.StoredAudit]:
        return self._pages(audit_ops.stored_page)

    async def _pages(
        self, page_of: Callable[[sqlite3.Connection, tuple[str, int], int], list[_Paged]]
    ) -> AsyncIterator[_Paged]:
        """Every record, a page at a time in (chain, seq) order: memory stays flat. The
        next page is read while the caller goes through this one."""
        page = await self._run(page_of, ("", 0), _AUDIT_PAGE)
        ahead: asyncio.Future[list[_Paged]] | None = None
        try:
            while True:
                if len(page) == _AUDIT_PAGE:
                    after = (page[-1].chain, page[-1].seq)
                    ahead = asyncio.ensure_future(self._run(page_of, after, _AUDIT_PAGE))
                for record in page:
                    yield record
                if ahead is None:
                    return
                page, ahead = await ahead, None
        finally:  # the caller stopped early: the page read ahead is not wanted
            if ahead is not None:
                ahead.cancel()

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        return await self._run(audit_ops.audit_heads)

    async def verification_pointers(
        self, group: str, subjects: Sequence[str]
    ) -> list[list[tuple[str, int]]]:
        return [[] for _ in subjects]

    async def add_checkpoint(self, note: bytes, expected_count: int) -> bool:
        return await self._run(checkpoint_ops.add_checkpoint, note, expected_count)

    async def checkpoints(self) -> list[bytes]:
        return await self._run(checkpoint_ops.checkpoints)

    async def latest_checkpoint(self) -> tuple[int, bytes | None]:
        return await self._run(checkpoint_ops.latest_checkpoint)

    async def dropped_checkpoints(self) -> tuple[int, str | None]:
        return await self._run(checkpoint_ops.dropped_checkpoints)

    async def trim_checkpoints(self, upto: int, last: bytes) -> bool:
        return await self._run(checkpoint_ops.trim_checkpoints, upto, last)

    async def audit_archived(self) -> dict[str, tuple[int, str, int]]:
        return await self._run(audit_ops.archived)

    async def trim_archived(self, trim: records.AuditTrim) -> bool:
        # the index of checks is the records' own (subject, action) index: it goes with them
        return await self._run(audit_ops.trim_archived, trim)
