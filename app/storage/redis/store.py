"""`app.domain.ports.Store` on Redis or a Redis Cluster.

Layout and sharding: `keys`. Atomic writes: `scripts` (one Lua script per
write, on one shard = one cluster slot). Audit chains: `audit`; signed checkpoints:
`checkpoints`. Durability settings: `durability`.

Connecting is lazy enough to survive a Redis that is down at start-up: `open` tries to
read the shard count, and if Redis cannot be reached, the first operation tries again
(and raises `StoreUnavailable` until it can).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from redis.asyncio import Redis

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
from app.errors import ConfigError, StoreUnavailable
from app.storage.redis import bulk, checks, records
from app.storage.redis import checkpoints as checkpoint_ops
from app.storage.redis.audit import Chains
from app.storage.redis.conn import (
    Client,
    RedisUrl,
    ScriptRunner,
    Scripts,
    as_bytes,
    connect,
    parse_url,
    unavailable,
)
from app.storage.redis.ctx import SCRIPTS, Ctx
from app.storage.redis.keys import DEFAULT_SHARDS, GLOBAL, Layout
from app.storage.redis.migrate import ensure_layout
from app.storage.redis.mux import MuxScripts
from app.storage.redis.scripts import VERIF_CAP

__all__ = ["RedisStore"]


class RedisStore:
    """Build it with `await RedisStore.open(url)`."""

    def __init__(self, url: RedisUrl, client: Client, timeout_s: float = 2.0) -> None:
        self.url = url
        self.client = client
        self._scripts: ScriptRunner = (
            Scripts(client, SCRIPTS)
            if url.cluster or url.ssl
            else MuxScripts(url, SCRIPTS, timeout_s)
        )
        self._ctx: Ctx | None = None
        self._ready_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, timeout_s: float = 2.0) -> RedisStore:
        """Raises ConfigError for a bad URL or a shard count that contradicts the store's;
        a Redis that cannot be reached now is not an error yet (see the module doc)."""
        parsed = parse_url(url)
        store = cls(parsed, connect(parsed, timeout_s), timeout_s)
        try:
            await store.context()
        except StoreUnavailable:
            pass
        except BaseException:
            await store.close()
            raise
        return store

    async def context(self) -> Ctx:
        """The operation context, fixing the shard count at first use."""
        if self._ctx is not None:
            return self._ctx
        if self._closed:
            raise StoreUnavailable("the store is closed")
        async with self._ready_lock:
            if self._ctx is None:
                shards = await self._fix_shards()
                layout = Layout(shards)
                await ensure_layout(self.client, layout, self._scripts)
                self._ctx = Ctx(
                    self.client,
                    layout,
                    self._scripts,
                    Chains(self.client, layout, self._scripts),
                    single_node=not self.url.cluster,
                )
        return self._ctx

    async def _fix_shards(self) -> int:
        # HSETNX: the first store to open a Redis decides, every later one must agree
        # (a different count would map the same subject to another shard)
        wanted = self.url.shards or DEFAULT_SHARDS
        await unavailable(self.client.hsetnx(Layout.META, "shards", wanted))
        raw = await unavailable(self.client.hget(Layout.META, "shards"))
        stored = int(as_bytes(raw or b"0"))
        if self.url.shards is not None and stored != self.url.shards:
            raise ConfigError(
                f"this Redis store has {stored} shards, the URL asks for {self.url.shards}"
            )
        return stored

    @property
    def shards(self) -> int | None:
        return None if self._ctx is None else self._ctx.layout.shards

    async def ping(self) -> None:
        await self.context()
        await unavailable(self.client.ping())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._scripts.close()
        if isinstance(self.client, Redis):
            # we built the pool, so we close it (aclose alone leaves it open)
            await self.client.aclose(close_connection_pool=True)
        else:
            await self.client.aclose()

    # -- API clients ---------------------------------------------------------------
    async def add_client(self, client: ClientRecord, audit: AuditEvent) -> None:
        await records.add_client(await self.context(), client, audit)

    async def get_client_by_key_hash(self, key_hash: str) -> ClientRecord | None:
        return await records.get_client_by_key_hash(await self.context(), key_hash)

    async def get_client(self, client_id: str) -> ClientRecord | None:
        return await records.get_client(await self.context(), client_id)

    async def list_clients(self) -> list[ClientRecord]:
        return await records.list_clients(await self.context())

    async def revoke_client(self, client_id: str, at: datetime, audit: AuditEvent) -> bool:
        return await records.revoke_client(await self.context(), client_id, at, audit)

    # -- entitlements and status lists --------------------------------------------
    async def allocate_status_ref(self, subject: str) -> StatusRef:
        # one script call, as for a batch (one allocation mechanism, one fill limit)
        (ref,) = await bulk.allocate_status_refs(await self.context(), [subject])
        return ref

    async def get_entitlement(self, type_id: str, subject: str) -> Entitlement | None:
        return await records.get_entitlement(await self.context(), type_id, subject)

    async def list_entitlements(self, subject: str) -> list[Entitlement]:
        return await records.list_entitlements(await self.context(), subject)

    async def save_entitlement(self, write: EntitlementWrite) -> None:
        await records.save_entitlement(await self.context(), write)

    async def get_entitlements(self, keys: Sequence[tuple[str, str]]) -> list[Entitlement | None]:
        return await bulk.get_entitlements(await self.context(), keys)

    async def allocate_status_refs(self, subjects: Sequence[str]) -> list[StatusRef]:
        return await bulk.allocate_status_refs(await self.context(), subjects)

    async def save_entitlements(self, writes: Sequence[EntitlementWrite]) -> list[bool]:
        return await bulk.save_entitlements(await self.context(), writes)

    async def get_cards(self, numbers: Sequence[str]) -> list[CardRecord]:
        return await records.get_cards(await self.context(), numbers)

    async def get_status(self, ref: StatusRef) -> int:
        return await records.get_status(await self.context(), ref)

    async def status_list_ids(self) -> list[str]:
        return await records.status_list_ids(await self.context())

    async def status_list_bytes(self, list_id: str) -> bytes | None:
        return await records.status_list_bytes(await self.context(), list_id)

    # -- proofs, codes, checks ------------------------------------------------------
    def entitlement_hint(self, type_id: str, subject: str) -> Entitlement | None:
        ctx = self._ctx
        return None if ctx is None else ctx.entitlements.get(type_id, subject)

    async def save_proof(
        self,
        proof: ProofRecord,
        code: str | None,
        audit: AuditEvent,
        basis: Entitlement | None = None,
    ) -> bool:
        return await checks.save_proof(await self.context(), proof, code, audit, basis)

    async def get_proof_by_code(self, code: str, now: datetime) -> ProofRecord | None:
        return await checks.get_proof_by_code(await self.context(), code, now)

    async def check_and_record(self, check: CheckRequest) -> CheckOutcome:
        return await checks.check_and_record(await self.context(), check)

    async def hit_rate(self, key: str, window_s: int, now: datetime) -> int:
        return await checks.hit_rate(await self.context(), key, window_s, now)

    async def undo_hit(self, key: str, window_s: int, now: datetime) -> None:
        await checks.undo_hit(await self.context(), key, window_s, now)

    async def rate_count(self, key: str, window_s: int, now: datetime) -> int:
        return await checks.rate_count(await self.context(), key, window_s, now)

    # -- audit ----------------------------------------------------------------------
    async def append_audit(self, event: AuditEvent) -> None:
        """Into the chain of the subject's shard (where its verification index is), or
        the global shard for events that concern no subject."""
        ctx = await self.context()
        label = GLOBAL if event.subject is None else str(ctx.layout.shard_of_subject(event.subject))
        await ctx.chains.append(label, event)

    async def iter_audit(self) -> AsyncIterator[AuditRecord]:
        ctx = await self.context()
        async for record, _data in ctx.chains.iter_records():
            yield record

    async def verifications_for(self, subject: str, limit: int) -> list[AuditEvent]:
        return await (await self.context()).chains.verifications_for(subject, limit)

    #: the verification index is a list per subject beside the chains (`audit`),
    #: which `audit verify` compares with the records
    separate_verification_index = True
    verification_cap: int | None = VERIF_CAP

    async def iter_audit_stored(self) -> AsyncIterator[StoredAudit]:
        async for record in (await self.context()).chains.stored_records():
            yield record

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        return await (await self.context()).chains.heads()

    async def verification_pointers(
        self, group: str, subjects: Sequence[str]
    ) -> list[list[tuple[str, int]]]:
        return await (await self.context()).chains.pointers(group, subjects)

    async def add_checkpoint(self, note: bytes, expected_count: int) -> bool:
        return await checkpoint_ops.add_checkpoint(await self.context(), note, expected_count)

    async def checkpoints(self) -> list[bytes]:
        return await checkpoint_ops.checkpoints(await self.context())

    async def latest_checkpoint(self) -> tuple[int, bytes | None]:
        return await checkpoint_ops.latest_checkpoint(await self.context())

    async def dropped_checkpoints(self) -> tuple[int, str | None]:
        return await checkpoint_ops.dropped_checkpoints(await self.context())

    async def trim_checkpoints(self, upto: int, last: bytes) -> bool:
        return await checkpoint_ops.trim_checkpoints(await self.context(), upto, last)

    async def audit_archived(self) -> dict[str, tuple[int, str, int]]:
        return await (await self.context()).chains.archived()

    async def trim_archived(self, trim: AuditTrim) -> bool:
        return await (await self.context()).chains.trim(
            trim.chain, trim.upto, trim.digest, trim.before_us, trim.checks
        )
