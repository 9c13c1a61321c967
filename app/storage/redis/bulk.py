"""The bulk forms for batch ingest: one script per shard per call, the shards in
parallel (each shard has its own chain, so they do not wait for each other)."""

from __future__ import annotations

import asyncio
import secrets
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from app.domain.ports import STATUS_LIST_SIZE
from app.domain.records import Entitlement, EntitlementWrite, StatusRef
from app.storage._lean import decode_held_entitlement, encode_card, encode_held_entitlement
from app.storage.redis.audit import Arg, Prepared, prepare
from app.storage.redis.conn import as_bytes, unavailable
from app.storage.redis.ctx import Ctx
from app.storage.redis.keys import Layout
from app.storage.redis.records import status_triples

__all__ = ["allocate_status_refs", "get_entitlements", "save_entitlements"]

#: as on SQLite: a list takes new indices until half full, so a random probe hits a free
#: index with probability >= 1/2 (single allocations come this way too)
_FILL_LIMIT = STATUS_LIST_SIZE // 2
# a power of two, so masking uniform random words gives uniform indexes
assert STATUS_LIST_SIZE & (STATUS_LIST_SIZE - 1) == 0


def _random_indexes(n: int) -> list[int]:
    """n indexes drawn uniformly by the OS CSPRNG (as secrets.randbelow, one call for all:
    randbelow per index was 7% of the batch-ingest CPU)."""
    words = array("I", secrets.token_bytes(4 * n))
    mask = STATUS_LIST_SIZE - 1
    return [w & mask for w in words]


async def get_entitlements(ctx: Ctx, keys: Sequence[tuple[str, str]]) -> list[Entitlement | None]:
    """One script per shard, the shards in parallel."""
    places = [ctx.layout.ent_place(subject, type_id) for type_id, subject in keys]
    by_shard: dict[str, list[int]] = {}
    for pos, place in enumerate(places):
        by_shard.setdefault(place[0], []).append(pos)
    out: list[Entitlement | None] = [None] * len(keys)

    async def one_shard(_label: str, positions: list[int]) -> None:
        values = await ctx.scripts.run(
            "GET_MANY", [places[pos][1] for pos in positions], [places[pos][2] for pos in positions]
        )
        for pos, value in zip(positions, values, strict=True):
            if value:
                type_id, subject = keys[pos]
                out[pos] = decode_held_entitlement(type_id, subject, as_bytes(value))

    await asyncio.gather(*(one_shard(s, p) for s, p in by_shard.items()))
    return out


async def allocate_status_refs(ctx: Ctx, subjects: Sequence[str]) -> list[StatusRef]:
    by_shard: dict[int, list[int]] = {}
    for pos, subject in enumerate(subjects):
        by_shard.setdefault(ctx.layout.shard_of_subject(subject), []).append(pos)
    out: list[StatusRef | None] = [None] * len(subjects)

    async def one_shard(shard: int, positions: list[int]) -> None:
        label = str(shard)
        while positions:
            # twice as many candidates as refs: each hits a free index with p >= 1/2
            candidates = _random_indexes(2 * len(positions) + 8)
            flat = await ctx.scripts.run(
                "ALLOCATE_MANY",
                [ctx.layout.lists_key(label)],
                [Layout.prefix(label), _FILL_LIMIT, len(positions), *candidates],
            )
            got = len(flat) // 2
            for k in range(got):
                out[positions[k]] = StatusRef(
                    ctx.layout.list_id(shard, int(flat[2 * k])), int(flat[2 * k + 1])
                )
            positions = positions[got:]

    await asyncio.gather(*(one_shard(s, p) for s, p in by_shard.items()))
    return [ref for ref in out if ref is not None]


async def save_entitlements(ctx: Ctx, writes: Sequence[EntitlementWrite]) -> list[bool]:
    """Each shard's writes in one script; a version mismatch drops that write and the
    shard's script runs again for the others (their audit records hash differently)."""
    results = [True] * len(writes)
    by_label: dict[str, list[int]] = {}
    places = [ctx.layout.ent_place(w.ent.subject, w.ent.type) for w in writes]
    for pos, (label, _key, _field) in enumerate(places):
        by_label.setdefault(label, []).append(pos)
    encoded: dict[int, list[Arg]] = {}
    for label, positions in by_label.items():
        for pos in positions:
            w = writes[pos]
            triples = status_triples(
                ctx.layout, label, [*w.status_updates, (w.ent.status_ref, w.ent.status)]
            )
            card_args: list[Arg] = [len(w.cards)]
            for card in w.cards:
                card_args += [card.number, encode_card(card)]
            encoded[pos] = [
                places[pos][1],
                places[pos][2],
                "" if w.expected_version is None else str(w.expected_version),
                encode_held_entitlement(w.ent),
                len(triples) // 3,
                *triples,
                *card_args,
            ]
    directory: dict[Any, Any] = {}
    for w, (label, _key, _field) in zip(writes, places, strict=True):
        for card in w.cards:
            directory[card.number] = label
    if directory:
        # before the shard writes, as in save_entitlement
        await unavailable(ctx.client.hset(Layout.CARD_DIR, mapping=directory))

    async def one_shard(label: str, positions: list[int]) -> None:
        while positions:
            current = positions

            def build(
                chain: str, seq: int, prev: str, current: list[int] = current
            ) -> tuple[list[Arg], Callable[[list[Any]], str]]:
                args: list[Arg] = [Layout.prefix(label), len(current)]
                last: Prepared | None = None
                for k, pos in enumerate(current):
                    last = prepare(ctx.layout, label, chain, writes[pos].audit, seq + k, prev)
                    prev = last.digest
                    args += [*encoded[pos], *last.args()]
                assert last is not None
                digest = last.digest
                return ["", "", "", *args], lambda _reply: digest

            reply = await ctx.chains.run(
                label, "SAVE_MANY", [ctx.layout.lists_key(label)], build, advance=len(current)
            )
            if reply[0] == "O":
                return
            failed = {current[int(i) - 1] for i in reply[1:]}
            for pos in failed:
                results[pos] = False
            positions = [p for p in current if p not in failed]

    await asyncio.gather(*(one_shard(lb, ps) for lb, ps in by_label.items()))
    return results
