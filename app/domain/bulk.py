"""Bulk upserts for batch ingest: a chunk of lines costs a few store round trips (one
read, one allocation, one write) instead of three per line.

Semantics are those of `EntitlementService.upsert` line by line, in order: a key that
appears twice in a chunk is applied in a later round so the second line sees the first;
parking cards (whose duplicate-card rules read other cards) and lines that lost a race
with a concurrent writer go through the one-by-one path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.domain.entitlements import (
    STATUS_NAMES,
    EntitlementService,
    UpsertInput,
    WriteResult,
    next_version,
    same_content,
)
from app.domain.ports import EntitlementStore
from app.domain.records import (
    AuditEvent,
    ClientRecord,
    EntitlementWrite,
)
from app.domain.registry import EntitlementType
from app.errors import DomainError

__all__ = ["BulkUpserter"]

Outcome = WriteResult | DomainError
_Prepared = tuple[int, EntitlementType, str, UpsertInput]


class BulkUpserter:
    def __init__(self, store: EntitlementStore, service: EntitlementService) -> None:
        self._store = store
        self._service = service

    async def upsert_many(
        self, client: ClientRecord, items: Sequence[tuple[str, UpsertInput]], now: datetime
    ) -> list[Outcome]:
        """Apply `items` (type, data) as upserts; one outcome per item, in order.

        Domain errors are returned in the item's place, never raised: a bad line never
        blocks the good ones. Store errors are raised (nothing more can be done now).
        """
        results: list[Outcome | None] = [None] * len(items)
        pending: list[_Prepared] = []
        singles: list[int] = []
        for i, (type_id, data) in enumerate(items):
            try:
                etype, subject, data = self._service.prepare(client, type_id, data)
            except DomainError as exc:
                results[i] = exc
                continue
            if "card_number" in data.attributes:
                singles.append(i)
            else:
                pending.append((i, etype, subject, data))
        while pending:
            round_: list[_Prepared] = []
            later: list[_Prepared] = []
            seen: set[tuple[str, str]] = set()
            for p in pending:
                key = (p[1].id, p[2])
                (later if key in seen else round_).append(p)
                seen.add(key)
            singles.extend(await self._round(client, round_, results, now))
            pending = later
        for i in sorted(singles):
            type_id, data = items[i]
            try:
                results[i] = await self._service.upsert(client, type_id, data, now)
            except DomainError as exc:
                results[i] = exc
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    async def _round(
        self,
        client: ClientRecord,
        batch: list[_Prepared],
        results: list[Outcome | None],
        now: datetime,
    ) -> list[int]:
        """One round of distinct keys; returns the items to retry one by one."""
        existing = await self._store.get_entitlements([(e.id, s) for _, e, s, _ in batch])
        fresh = [k for k, ent in enumerate(existing) if ent is None]
        refs = iter(
            await self._store.allocate_status_refs([batch[k][2] for k in fresh]) if fresh else []
        )
        writes: list[EntitlementWrite] = []
        placed: list[int] = []
        for (i, etype, subject, data), old in zip(batch, existing, strict=True):
            if old is not None and same_content(old, data):
                results[i] = WriteResult(
                    type=etype.id, outcome="unchanged", status=STATUS_NAMES[old.status]
                )
                continue
            ref = old.status_ref if old else next(refs)
            ent = next_version(etype.id, subject, data, old, ref, now, client.id)
            outcome = "updated" if old else "created"
            writes.append(
                EntitlementWrite(
                    ent=ent,
                    expected_version=old.version if old else None,
                    audit=AuditEvent(
                        at=now,
                        actor=client.id,
                        action="update" if old else "grant",
                        type=etype.id,
                        subject=subject,
                        result=outcome,
                    ),
                )
            )
            placed.append(i)
            results[i] = WriteResult(
                type=etype.id, outcome=outcome, status=STATUS_NAMES[ent.status]
            )
        retry = []
        if writes:
            for i, ok in zip(placed, await self._store.save_entitlements(writes), strict=True):
                if not ok:  # a concurrent writer got there first: redo it carefully
                    results[i] = None
                    retry.append(i)
        return retry
