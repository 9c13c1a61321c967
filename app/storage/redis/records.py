"""Redis operations on clients, entitlements, status lists and cards (see `keys` for
the layout and `scripts` for the atomic writes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from app.domain.ports import STATUS_LIST_SIZE
from app.domain.records import (
    INVALID,
    AuditEvent,
    CardRecord,
    ClientRecord,
    Entitlement,
    EntitlementWrite,
    StatusRef,
)
from app.errors import VersionConflict
from app.storage._common import STATUS_BYTES
from app.storage._lean import (
    decode_held_entitlement,
    encode_card,
    encode_held_entitlement,
    held_version,
)
from app.storage.redis.audit import Arg, prepare
from app.storage.redis.conn import as_bytes, guarded, unavailable
from app.storage.redis.ctx import Ctx, decoders, encoder
from app.storage.redis.keys import GLOBAL, Layout, subject_token
from app.storage.redis.statusbits import redis_to_ietf

__all__ = [
    "add_client",
    "get_cards",
    "get_client",
    "get_client_by_key_hash",
    "get_entitlement",
    "get_status",
    "list_clients",
    "list_entitlements",
    "revoke_client",
    "save_entitlement",
    "status_list_bytes",
    "status_list_ids",
    "status_triples",
]


def _audited(
    ctx: Ctx, label: str, audit: AuditEvent, extra: list[Arg]
) -> Callable[[str, int, str], tuple[list[Arg], Callable[[list[Any]], str]]]:
    def build(chain: str, seq: int, prev: str) -> tuple[list[Arg], Callable[[list[Any]], str]]:
        prepared = prepare(ctx.layout, label, chain, audit, seq, prev)
        return [*prepared.args(), *extra], lambda _reply: prepared.digest

    return build


# -- clients (global shard) ------------------------------------------------------------
async def add_client(ctx: Ctx, client: ClientRecord, audit: AuditEvent) -> None:
    build = _audited(ctx, GLOBAL, audit, [client.id, client.key_hash, encoder.encode(client)])
    reply = await ctx.chains.run(GLOBAL, "ADD_CLIENT", [Layout.CLIENTS, Layout.CLIENT_KEYS], build)
    if reply[0] == "V":
        raise VersionConflict(f"client {client.id!r} or its key already exists")


async def get_client_by_key_hash(ctx: Ctx, key_hash: str) -> ClientRecord | None:
    data = await ctx.scripts.run("CLIENT_BY_KEY", [Layout.CLIENTS, Layout.CLIENT_KEYS], [key_hash])
    return decoders.client.decode(data) if data else None


async def get_client(ctx: Ctx, client_id: str) -> ClientRecord | None:
    data = await unavailable(ctx.client.hget(Layout.CLIENTS, client_id))
    return decoders.client.decode(data) if data else None


async def list_clients(ctx: Ctx) -> list[ClientRecord]:
    values = await unavailable(ctx.client.hvals(Layout.CLIENTS))
    clients = [decoders.client.decode(v) for v in values]
    return sorted(clients, key=lambda c: (c.created_at, c.id))


async def revoke_client(ctx: Ctx, client_id: str, at: datetime, audit: AuditEvent) -> bool:
    while True:  # compare-and-set: only a concurrent change of this client loops
        old = await unavailable(ctx.client.hget(Layout.CLIENTS, client_id))
        if old is None:
            return False
        client = decoders.client.decode(old)
        if client.revoked_at is not None:
            return False
        new = encoder.encode(msgspec.structs.replace(client, revoked_at=at))
        build = _audited(ctx, GLOBAL, audit, [client_id, old, new])
        reply = await ctx.chains.run(GLOBAL, "REVOKE_CLIENT", [Layout.CLIENTS], build)
        if reply[0] == "O":
            return True


# -- status lists ------------------------------------------------------------------------
async def get_status(ctx: Ctx, ref: StatusRef) -> int:
    """INVALID for an index never handed out, as on SQLite."""
    place = ctx.layout.list_place(ref.list_id)
    if place is None or not 0 <= ref.idx < STATUS_LIST_SIZE:
        return INVALID
    label, n = str(place[0]), place[1]
    async with guarded():
        pipe = ctx.client.pipeline(transaction=False)
        pipe.getbit(ctx.layout.alloc_key(label, n), ref.idx)
        pipe.execute_command("BITFIELD", ctx.layout.bits_key(label, n), "GET", "u2", f"#{ref.idx}")
        allocated, bits = await pipe.execute()
    return int(bits[0]) if allocated else INVALID


async def status_list_ids(ctx: Ctx) -> list[str]:
    async with guarded():
        pipe = ctx.client.pipeline(transaction=False)
        for shard in range(ctx.layout.shards):
            pipe.hget(ctx.layout.lists_key(str(shard)), "count")
        counts = await pipe.execute()
    ids = [
        int(ctx.layout.list_id(shard, n))
        for shard, count in enumerate(counts)
        for n in range(int(count or 0))
    ]
    return [str(i) for i in sorted(ids)]


async def status_list_bytes(ctx: Ctx, list_id: str) -> bytes | None:
    place = ctx.layout.list_place(list_id)
    if place is None:
        return None
    label, n = str(place[0]), place[1]
    async with guarded():
        pipe = ctx.client.pipeline(transaction=False)
        pipe.hget(ctx.layout.lists_key(label), "count")
        pipe.get(ctx.layout.bits_key(label, n))
        count, raw = await pipe.execute()
    if n >= int(count or 0):
        return None
    # BITFIELD only grows the string as far as the highest entry set
    raw = as_bytes(raw or b"")[:STATUS_BYTES]
    return redis_to_ietf(raw) + bytes(STATUS_BYTES - len(raw))


# -- entitlements and cards --------------------------------------------------------------
async def get_entitlement(ctx: Ctx, type_id: str, subject: str) -> Entitlement | None:
    _label, key, field = ctx.layout.ent_place(subject, type_id)
    data = await ctx.scripts.run("READ_FIELD", [key], [field])
    return decode_held_entitlement(type_id, subject, as_bytes(data)) if data else None


async def list_entitlements(ctx: Ctx, subject: str) -> list[Entitlement]:
    """The subject's fields among its bucket's (a few dozen at national scale)."""
    _label, key = ctx.layout.ent_key(subject)
    token = subject_token(subject)
    fields = await unavailable(ctx.client.hgetall(key))
    ents = []
    for name, value in fields.items():
        field = as_bytes(name)
        if field.startswith(token):
            type_id = field[len(token) :].decode("utf-8")
            ents.append(decode_held_entitlement(type_id, subject, as_bytes(value)))
    return sorted(ents, key=lambda e: e.type)


def status_triples(
    layout: Layout, label: str, updates: Sequence[tuple[StatusRef, int]]
) -> list[Arg]:
    out: list[Arg] = []
    for ref, status in updates:
        place = layout.list_place(ref.list_id)
        if place is None or not 0 <= ref.idx < STATUS_LIST_SIZE:
            raise ValueError(f"not a status reference of this store: {ref!r}")
        if str(place[0]) != label:
            # cannot be written atomically with the entitlement on a cluster
            raise ValueError(f"status reference {ref!r} is outside the subject's shard")
        if not 0 <= status <= 3:
            raise ValueError(f"a status is 2 bits, got {status}")
        out += [place[1], ref.idx, status]
    return out


async def save_entitlement(ctx: Ctx, write: EntitlementWrite) -> None:
    """One script on the subject's shard; the card directory is written first (an entry
    whose card is not in that shard reads as unknown, so a failed write leaves nothing
    visible)."""
    ent, expected_version, cards = write.ent, write.expected_version, write.cards
    label, key, field = ctx.layout.ent_place(ent.subject, ent.type)
    try:
        # the entitlement's own status goes last: it wins over a contradicting update
        triples = status_triples(
            ctx.layout, label, [*write.status_updates, (ent.status_ref, ent.status)]
        )
    except ValueError:
        # a stale or impossible write is a conflict first, as on every backend
        raw = await unavailable(ctx.client.hget(key, field))
        stored = None if raw is None else held_version(as_bytes(raw))
        if stored != expected_version:
            raise VersionConflict(
                f"entitlement {ent.type!r}: expected version {expected_version}, stored {stored}"
            ) from None
        raise
    if cards:
        await unavailable(
            ctx.client.hset(Layout.CARD_DIR, mapping={card.number: label for card in cards})
        )
    card_args: list[Arg] = [len(cards)]
    for card in cards:
        card_args += [card.number, encode_card(card)]
    extra: list[Arg] = [
        Layout.prefix(label),
        field,
        "" if expected_version is None else str(expected_version),
        encode_held_entitlement(ent),
        len(triples) // 3,
        *triples,
        *card_args,
    ]
    keys = [key, ctx.layout.lists_key(label)]
    reply = await ctx.chains.run(
        label, "SAVE_ENTITLEMENT", keys, _audited(ctx, label, write.audit, extra)
    )
    if reply[0] == "V":
        found = as_bytes(reply[1]).decode() or None
        raise VersionConflict(
            f"entitlement {ent.type!r}: expected version {expected_version}, stored {found}"
        )


async def get_cards(ctx: Ctx, numbers: Sequence[str]) -> list[CardRecord]:
    """The known cards among `numbers`, in the order asked, each once (2 round trips:
    the directory, then the shards; one card on a single node: 1).

    One card (a police or parking check, on every card check) goes through the store's
    one-command scripts, as the other hot-path reads do: on a single node they ride the
    multiplexed connections, ~13 µs of the worker's CPU each instead of redis-py's
    50-70 µs for the HMGET and the pipeline below.
    """
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return []
    if len(wanted) == 1:
        (number,) = wanted
        if ctx.single_node:  # the directory and the card in one script
            value = await ctx.scripts.run(
                "READ_CARD", [Layout.CARD_DIR], [number, *ctx.layout.card_around]
            )
            return [decoders.card.decode(value)] if value else []
        label = await ctx.scripts.run("READ_FIELD", [Layout.CARD_DIR], [number])
        if label is None:
            return []
        key = ctx.layout.card_key(as_bytes(label).decode(), number)
        value = await ctx.scripts.run("READ_VALUE", [key], [])
        return [decoders.card.decode(value)] if value else []
    labels = await unavailable(ctx.client.hmget(Layout.CARD_DIR, wanted))
    located = [(n, as_bytes(lb).decode()) for n, lb in zip(wanted, labels, strict=True) if lb]
    if not located:
        return []
    async with guarded():
        pipe = ctx.client.pipeline(transaction=False)
        for number, label in located:
            pipe.get(ctx.layout.card_key(label, number))
        values = await pipe.execute()
    return [decoders.card.decode(v) for v in values if v]
