"""Reading every record out of a store, and writing records into an empty one as they
are (status refs, versions, audit chains with their hashes), for `statuspass store copy`.

Not part of `Store`: the service never needs it. `copier_for(store)` gives the adapter of
a backend. The SQLite adapter runs its SQL on the store's own thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import msgspec

from app.domain.events import decode_event
from app.domain.records import AuditRecord, CardRecord, ClientRecord, Entitlement, ProofRecord
from app.storage._common import PROOF_GRACE_S, to_us
from app.storage._lean import (
    decode_card,
    decode_entitlement,
    decode_proof,
    encode_card,
    encode_entitlement,
    encode_proof,
)
from app.storage.sqlite import SqliteStore
from app.storage.sqlite.tx import immediate

__all__ = ["ArchiveMarks", "Copier", "Dropped", "ProofEntry", "SqliteCopier", "StatusEntry"]

#: (list id, index, status) of an allocated status-list entry
StatusEntry = tuple[str, int, int]
#: a proof with its numeric code (or None) and the code's expiry (µs)
ProofEntry = tuple[ProofRecord, str | None]
#: an audit record with the exact bytes its hash covers
RawAudit = tuple[AuditRecord, bytes]
#: chain -> (records archived, hash of the last one, archive date in µs)
ArchiveMarks = dict[str, tuple[int, str, int]]
#: (signed checkpoints dropped from the store, note hash of the last or None)
Dropped = tuple[int, str | None]

_PAGE = 1_000
_enc = msgspec.json.Encoder()
_client = msgspec.json.Decoder(ClientRecord)


class Copier(Protocol):
    async def shards(self) -> int:
        """How many shards the store's refs respect (SQLite: 1, anything goes)."""

    async def is_empty(self) -> bool: ...

    async def totals(self) -> dict[str, int]:
        """How many records of each kind iteration will yield, for the kinds a store can
        count without reading them all (progress shows a percentage for those)."""

    def iter_clients(self) -> AsyncIterator[ClientRecord]: ...
    def iter_status(self) -> AsyncIterator[StatusEntry]: ...
    async def list_ids(self) -> list[str]: ...
    def iter_entitlements(self) -> AsyncIterator[Entitlement]: ...
    def iter_cards(self) -> AsyncIterator[CardRecord]: ...
    def iter_proofs(self) -> AsyncIterator[ProofEntry]: ...
    def iter_audit(self) -> AsyncIterator[RawAudit]: ...

    async def put_clients(self, batch: Sequence[ClientRecord]) -> None: ...
    async def put_lists(self, list_ids: Sequence[str]) -> None: ...
    async def put_status(self, batch: Sequence[StatusEntry]) -> None: ...
    async def put_entitlements(self, batch: Sequence[Entitlement]) -> None: ...
    async def put_cards(self, batch: Sequence[CardRecord]) -> None: ...
    async def put_proofs(self, batch: Sequence[ProofEntry]) -> None: ...
    async def put_audit(self, batch: Sequence[RawAudit]) -> None: ...
    async def put_archive_marks(self, archived: ArchiveMarks, dropped: Dropped) -> None:
        """What `audit archive` left in the source: how far each chain is archived (its
        records before that are in the archive folder, not in the store), and how many
        signed checkpoints it dropped (and the note hash of the last). Before the audit
        records, so they continue where the archive ends."""
        ...


class SqliteCopier:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def _sql(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await self._store._run(lambda conn: conn.execute(sql, params).fetchall())

    async def _pages(self, sql: str) -> AsyncIterator[tuple[Any, ...]]:
        """`sql` selects rowid first and ends in `WHERE rowid > ? ORDER BY rowid LIMIT ?`."""
        after = -1
        while True:
            rows = await self._sql(sql, (after, _PAGE))
            for row in rows:
                yield row[1:]
            if len(rows) < _PAGE:
                return
            after = int(str(rows[-1][0]))

    async def _write(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        def go(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.executemany(sql, rows)

        await self._store._run(go)

    async def shards(self) -> int:
        return 1

    async def is_empty(self) -> bool:
        tables = ("clients", "entitlements", "status_lists", "cards", "proofs", "audit")
        for table in tables:
            if await self._sql(f"SELECT 1 FROM {table} LIMIT 1"):  # noqa: S608
                return False
        return True

    async def totals(self) -> dict[str, int]:
        horizon = int((time.time() - PROOF_GRACE_S) * 1_000_000)
        queries = {
            "clients": ("SELECT COUNT(*) FROM clients", ()),
            "status entries": ("SELECT COUNT(*) FROM status_entries", ()),
            "entitlements": ("SELECT COUNT(*) FROM entitlements", ()),
            "cards": ("SELECT COUNT(*) FROM cards", ()),
            "proofs": ("SELECT COUNT(*) FROM proofs WHERE expires_us > ?", (horizon,)),
            "audit": ("SELECT COUNT(*) FROM audit", ()),
        }
        return {
            kind: int(str((await self._sql(sql, params))[0][0]))
            for kind, (sql, params) in queries.items()
        }

    async def iter_clients(self) -> AsyncIterator[ClientRecord]:
        async for (data,) in self._pages(
            "SELECT rowid, data FROM clients WHERE rowid > ? ORDER BY rowid LIMIT ?"
        ):
            yield _client.decode(data)

    async def list_ids(self) -> list[str]:
        return [str(i) for (i,) in await self._sql("SELECT id FROM status_lists ORDER BY id")]

    async def iter_status(self) -> AsyncIterator[StatusEntry]:
        after: tuple[int, int] = (0, -1)
        while True:
            rows = await self._sql(
                "SELECT list_id, idx, status FROM status_entries WHERE (list_id, idx) > (?, ?)"
                " ORDER BY list_id, idx LIMIT ?",
                (*after, _PAGE),
            )
            for list_id, idx, status in rows:
                yield str(list_id), int(str(idx)), int(str(status))
            if len(rows) < _PAGE:
                return
            after = (int(str(rows[-1][0])), int(str(rows[-1][1])))

    async def iter_entitlements(self) -> AsyncIterator[Entitlement]:
        after: tuple[str, str] = ("", "")
        while True:
            rows = await self._sql(
                "SELECT type, subject, data FROM entitlements WHERE (type, subject) > (?, ?)"
                " ORDER BY type, subject LIMIT ?",
                (*after, _PAGE),
            )
            for _t, _s, data in rows:
                yield decode_entitlement(data)
            if len(rows) < _PAGE:
                return
            after = (str(rows[-1][0]), str(rows[-1][1]))

    async def iter_cards(self) -> AsyncIterator[CardRecord]:
        async for (data,) in self._pages(
            "SELECT rowid, data FROM cards WHERE rowid > ? ORDER BY rowid LIMIT ?"
        ):
            yield decode_card(data)

    async def iter_proofs(self) -> AsyncIterator[ProofEntry]:
        """Proofs still within expiry + grace (the others are garbage on any store)."""
        horizon = int((time.time() - PROOF_GRACE_S) * 1_000_000)
        async for data, code, expires_us in self._pages(
            "SELECT rowid, data, code, expires_us FROM proofs"
            " WHERE rowid > ? ORDER BY rowid LIMIT ?"
        ):
            if int(expires_us) <= horizon:
                continue
            yield decode_proof(data), None if code is None else str(code)

    async def iter_audit(self) -> AsyncIterator[RawAudit]:
        after: tuple[str, int] = ("", 0)
        while True:
            rows = await self._sql(
                "SELECT chain, seq, event, prev, hash FROM audit WHERE (chain, seq) > (?, ?)"
                " ORDER BY chain, seq LIMIT ?",
                (*after, _PAGE),
            )
            for chain, seq, data, prev, digest in rows:
                raw = bytes(data)
                record = AuditRecord(
                    chain=str(chain),
                    seq=int(str(seq)),
                    event=decode_event(raw),
                    prev=str(prev),
                    hash=str(digest),
                )
                yield record, raw
            if len(rows) < _PAGE:
                return
            after = (str(rows[-1][0]), int(str(rows[-1][1])))

    async def put_clients(self, batch: Sequence[ClientRecord]) -> None:
        rows = [(c.id, c.key_hash, _enc.encode(c)) for c in batch]
        await self._write("INSERT INTO clients (id, key_hash, data) VALUES (?, ?, ?)", rows)

    async def put_lists(self, list_ids: Sequence[str]) -> None:
        rows = [(int(i),) for i in list_ids]
        await self._write("INSERT OR IGNORE INTO status_lists (id, allocated) VALUES (?, 0)", rows)

    async def put_status(self, batch: Sequence[StatusEntry]) -> None:
        await self._write(
            "INSERT INTO status_entries (list_id, idx, status) VALUES (?, ?, ?)",
            [(int(list_id), idx, status) for list_id, idx, status in batch],
        )
        await self._write(
            "UPDATE status_lists SET allocated = allocated + 1 WHERE id = ?",
            [(int(list_id),) for list_id, _idx, _status in batch],
        )

    async def put_entitlements(self, batch: Sequence[Entitlement]) -> None:
        await self._write(
            "INSERT INTO entitlements (type, subject, version, data) VALUES (?, ?, ?, ?)",
            [(e.type, e.subject, e.version, encode_entitlement(e)) for e in batch],
        )

    async def put_cards(self, batch: Sequence[CardRecord]) -> None:
        await self._write(
            "INSERT INTO cards (number, subject, data) VALUES (?, ?, ?)",
            [(c.number, c.subject, encode_card(c)) for c in batch],
        )

    async def put_proofs(self, batch: Sequence[ProofEntry]) -> None:
        await self._write(
            "INSERT INTO proofs (jti, subject, expires_us, code, data) VALUES (?, ?, ?, ?, ?)",
            [(p.jti, p.subject, to_us(p.expires_at), code, encode_proof(p)) for p, code in batch],
        )

    async def put_audit(self, batch: Sequence[RawAudit]) -> None:
        await self._write(
            "INSERT INTO audit (chain, seq, event, prev, hash, action, subject)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (r.chain, r.seq, raw, r.prev, r.hash, r.event.action, r.event.subject)
                for r, raw in batch
            ],
        )

    async def put_archive_marks(self, archived: ArchiveMarks, dropped: Dropped) -> None:
        await self._write(
            "INSERT INTO audit_archived (chain, upto, hash, before_us) VALUES (?, ?, ?, ?)",
            [
                (chain, upto, digest, before_us)
                for chain, (upto, digest, before_us) in archived.items()
            ],
        )
        count, last = dropped
        if count:
            await self._write(
                "INSERT INTO audit_checkpoints_dropped (one, count, last) VALUES (1, ?, ?)",
                [(count, last)],
            )
