"""The `store copy` adapter of the Redis store (see `app.storage.copy.Copier`).

Imports are plain pipelined writes, not the atomic scripts: the destination is empty and
nothing else uses it during a copy. Refs keep their list ids, so a ref must land in the
shard of its holder: `check_refs` refuses a source whose refs do not fit the shard count
(a SQLite store fits only P = 1: its lists were never sharded).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from app.domain.ports import STATUS_LIST_SIZE
from app.domain.records import GENESIS_HASH, CardRecord, ClientRecord, Entitlement
from app.storage._common import CODE_HOLD_US, PROOF_GRACE_S, VERIFICATION_ACTIONS, to_us
from app.storage._lean import (
    decode_held_entitlement,
    encode_card,
    encode_held_entitlement,
    encode_proof,
)
from app.storage.copy import ArchiveMarks, Dropped, ProofEntry, RawAudit, StatusEntry
from app.storage.redis.conn import as_bytes, guarded, unavailable
from app.storage.redis.ctx import Ctx, decoders, encoder
from app.storage.redis.index import pointer
from app.storage.redis.keys import (
    ENT,
    Layout,
    encode_chain_record,
    encode_legacy_chain_record,
    split_field,
    subject_token,
)
from app.storage.redis.store import RedisStore
from app.tokens.codes import CODE_LENGTH

__all__ = ["RedisCopier"]

_SCAN = 1_000


class RedisCopier:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        #: chain -> hash of the last record written by put_audit
        self._last: dict[str, str] = {}

    async def _ctx(self) -> Ctx:
        return await self._store.context()

    async def _scan(self, match: str) -> AsyncIterator[bytes]:
        client = self._store.client
        async with guarded():
            async for key in client.scan_iter(match=match, count=_SCAN):
                yield as_bytes(key)

    async def shards(self) -> int:
        return (await self._ctx()).layout.shards

    async def is_empty(self) -> bool:
        async for key in self._scan("*"):
            if key != Layout.META.encode():
                return False
        return True

    async def totals(self) -> dict[str, int]:
        """Clients, cards and allocated status entries are counted where they are kept;
        entitlements, proofs and audit records are only known by reading them."""
        ctx = await self._ctx()
        entries = 0
        for list_id in await self.list_ids():
            place = ctx.layout.list_place(list_id)
            if place is not None:
                key = ctx.layout.alloc_key(str(place[0]), place[1])
                entries += int(await unavailable(ctx.client.bitcount(key)))
        return {
            "clients": int(await unavailable(ctx.client.hlen(Layout.CLIENTS))),
            "status entries": entries,
            "cards": int(await unavailable(ctx.client.hlen(Layout.CARD_DIR))),
        }

    def label_of_subject(self, ctx: Ctx, subject: str) -> str:
        return str(ctx.layout.shard_of_subject(subject))

    # -- reading --------------------------------------------------------------------------
    async def iter_clients(self) -> AsyncIterator[ClientRecord]:
        for client in sorted(
            [
                decoders.client.decode(v)
                for v in await unavailable(self._store.client.hvals(Layout.CLIENTS))
            ],
            key=lambda c: c.id,
        ):
            yield client

    async def list_ids(self) -> list[str]:
        return await self._store.status_list_ids()

    async def iter_status(self) -> AsyncIterator[StatusEntry]:
        ctx = await self._ctx()
        for list_id in await self.list_ids():
            place = ctx.layout.list_place(list_id)
            assert place is not None
            label, n = str(place[0]), place[1]
            async with guarded():
                pipe = ctx.client.pipeline(transaction=False)
                pipe.get(ctx.layout.alloc_key(label, n))
                pipe.get(ctx.layout.bits_key(label, n))
                alloc, bits = await pipe.execute()
            alloc, bits = bytes(alloc or b""), bytes(bits or b"")
            for byte_no, byte in enumerate(alloc):
                for bit in range(8):
                    if byte & (0x80 >> bit):  # SETBIT counts from the high bit
                        idx = byte_no * 8 + bit
                        raw = bits[idx >> 2] if idx >> 2 < len(bits) else 0
                        yield list_id, idx, (raw >> (6 - 2 * (idx & 3))) & 3

    async def iter_entitlements(self) -> AsyncIterator[Entitlement]:
        """Bucket by bucket (a store of the earlier layout is migrated when opened)."""
        ctx = await self._ctx()
        async for key in self._scan(f"{{sp:*}}:{ENT}:*"):
            fields = await unavailable(ctx.client.hgetall(key))
            for name, value in sorted(fields.items()):
                subject, type_id = split_field(as_bytes(name))
                yield decode_held_entitlement(type_id, subject, as_bytes(value))

    async def iter_cards(self) -> AsyncIterator[CardRecord]:
        ctx = await self._ctx()
        directory = await unavailable(ctx.client.hgetall(Layout.CARD_DIR))
        for number, label in sorted(directory.items()):
            key = ctx.layout.card_key(as_bytes(label).decode(), as_bytes(number).decode())
            data = await unavailable(ctx.client.get(key))
            if data is not None:  # a directory entry of a write that failed
                yield decoders.card.decode(data)

    async def iter_proofs(self) -> AsyncIterator[ProofEntry]:
        ctx = await self._ctx()
        codes: dict[str, str] = {}
        async for key in self._scan("{spc:*}"):
            held = await unavailable(ctx.client.get(key))
            code = key.decode()[len("{spc:") : -1]
            # a code in clear, of a release before the digests: it answers nothing any
            # more and expires within minutes; it is not carried over
            if held is not None and not (len(code) == CODE_LENGTH and code.isdigit()):
                jti = as_bytes(held).decode().split(" ", 2)[2]
                codes[jti] = code
        async for key in self._scan("{sp:*}:proof:*"):
            data = await unavailable(ctx.client.hget(key, "d"))
            if data is not None:
                proof = decoders.proof.decode(data)
                yield proof, codes.get(proof.jti)

    async def iter_audit(self) -> AsyncIterator[RawAudit]:
        async for record, raw in (await self._ctx()).chains.iter_records():
            yield record, raw

    # -- checking -------------------------------------------------------------------------
    def check_ref(self, ctx: Ctx, subject: str, list_id: str, what: str) -> None:
        if ctx.layout.shard_of_list(list_id) != self.label_of_subject(ctx, subject):
            raise ValueError(
                f"{what}: status list {list_id} is not in its holder's shard with "
                f"{ctx.layout.shards} shards (copy to a Redis store with ?shards=1)"
            )

    # -- writing --------------------------------------------------------------------------
    async def _pipe(self, commands: Sequence[tuple[Any, ...]]) -> None:
        client = self._store.client
        async with guarded():
            pipe = client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            await pipe.execute()

    async def put_clients(self, batch: Sequence[ClientRecord]) -> None:
        cmds: list[tuple[Any, ...]] = []
        for c in batch:
            cmds.append(("HSET", Layout.CLIENTS, c.id, encoder.encode(c)))
            cmds.append(("HSET", Layout.CLIENT_KEYS, c.key_hash, c.id))
        await self._pipe(cmds)

    async def put_lists(self, list_ids: Sequence[str]) -> None:
        ctx = await self._ctx()
        counts: dict[int, int] = {}
        for list_id in list_ids:
            place = ctx.layout.list_place(list_id)
            if place is None:
                raise ValueError(f"status list id {list_id!r} is not a number")
            counts[place[0]] = max(counts.get(place[0], 0), place[1] + 1)
        await self._pipe(
            [("HSET", ctx.layout.lists_key(str(k)), "count", c) for k, c in counts.items()]
        )

    async def put_status(self, batch: Sequence[StatusEntry]) -> None:
        ctx = await self._ctx()
        cmds: list[tuple[Any, ...]] = []
        for list_id, idx, status in batch:
            place = ctx.layout.list_place(list_id)
            assert place is not None and 0 <= idx < STATUS_LIST_SIZE
            label, n = str(place[0]), place[1]
            cmds.append(("SETBIT", ctx.layout.alloc_key(label, n), idx, 1))
            cmds.append(("HINCRBY", ctx.layout.lists_key(label), f"a{n}", 1))
            if status:
                key = ctx.layout.bits_key(label, n)
                cmds.append(("BITFIELD", key, "SET", "u2", f"#{idx}", status))
        await self._pipe(cmds)

    async def put_entitlements(self, batch: Sequence[Entitlement]) -> None:
        ctx = await self._ctx()
        cmds: list[tuple[Any, ...]] = []
        for e in batch:
            self.check_ref(ctx, e.subject, e.status_ref.list_id, f"entitlement {e.type}")
            _label, key, field = ctx.layout.ent_place(e.subject, e.type)
            cmds.append(("HSET", key, field, encode_held_entitlement(e)))
        await self._pipe(cmds)

    async def put_cards(self, batch: Sequence[CardRecord]) -> None:
        ctx = await self._ctx()
        cmds: list[tuple[Any, ...]] = []
        for c in batch:
            label = self.label_of_subject(ctx, c.subject)
            cmds.append(("HSET", Layout.CARD_DIR, c.number, label))
            cmds.append(("SET", ctx.layout.card_key(label, c.number), encode_card(c)))
        await self._pipe(cmds)

    async def put_proofs(self, batch: Sequence[ProofEntry]) -> None:
        ctx = await self._ctx()
        now_us = int(time.time() * 1_000_000)
        cmds: list[tuple[Any, ...]] = []
        for proof, code in batch:
            label = ctx.layout.shard_of_list(proof.status_ref.list_id)
            expires_us = to_us(proof.expires_at)
            life_ms = (expires_us - now_us) // 1000
            if life_ms + PROOF_GRACE_S * 1000 <= 0:
                continue  # past its grace period: the source would purge it too
            key = ctx.layout.proof_key(label, proof.jti)
            cmds.append(("HSET", key, "s", proof.subject, "d", encode_proof(proof)))
            cmds.append(("PEXPIRE", key, life_ms + PROOF_GRACE_S * 1000))
            hold_ms = life_ms + CODE_HOLD_US // 1000
            if code is not None and hold_ms > 0:
                value = f"{expires_us} {label} {proof.jti}"
                cmds.append(("SET", Layout.code_key(code), value, "PX", hold_ms))
        await self._pipe(cmds)

    async def put_archive_marks(self, archived: ArchiveMarks, dropped: Dropped) -> None:
        ctx = await self._ctx()
        cmds: list[tuple[Any, ...]] = []
        for chain, (upto, digest, before_us) in archived.items():
            label = ctx.layout.label_of_chain(chain)
            cmds.append(("HSET", ctx.layout.archived_key(label), chain,
                         f"{upto} {digest} {before_us}"))  # fmt: skip
            cmds.append(("SADD", ctx.layout.chains_key(label), chain))
            self._last[chain] = digest  # the first record kept links to the last archived
        count, last = dropped
        if count:
            cmds.append(("SET", Layout.CHECKPOINTS_DROPPED, f"{count} {last}"))
        await self._pipe(cmds)

    async def put_audit(self, batch: Sequence[RawAudit]) -> None:
        """Chains keep their names; one named `<shard>/…` goes back to that shard, any
        other (SQLite's `main`) to the global shard."""
        ctx = await self._ctx()
        cmds: list[tuple[Any, ...]] = []
        index: list[tuple[str, bytes]] = []
        for record, raw in batch:
            label = ctx.layout.label_of_chain(record.chain)
            key = ctx.layout.chain_key(label, record.chain)
            # the compact element when its link is the element before it, as a reader
            # derives it; else (a chain copied from its middle, after an archive) the
            # element that keeps its link, so the copy holds the log as it was
            if record.prev == self._last.get(record.chain, GENESIS_HASH):
                item = encode_chain_record(record.seq, record.hash, raw)
            else:
                item = encode_legacy_chain_record(record.seq, record.prev, record.hash, raw)
            self._last[record.chain] = record.hash
            cmds.append(("RPUSH", key, item))
            cmds.append(("SADD", ctx.layout.chains_key(label), record.chain))
            event = record.event
            if event.action in VERIFICATION_ACTIONS and event.subject is not None:
                key = ctx.layout.index_key(label, event.subject)
                entry = subject_token(event.subject) + pointer(label, record.chain, record.seq)
                index.append((key, entry))
        await self._pipe(cmds)
        # after the records, oldest first (each is put before those there), trimmed to
        # VERIF_CAP by the script
        for start in range(0, len(index), _SCAN):
            await asyncio.gather(
                *(ctx.scripts.run("INDEX", [k], [e]) for k, e in index[start : start + _SCAN])
            )
