"""The one-time move of a Redis store of the earlier layout (a hash per holder, a list
per citizen's verification index) to the buckets of `keys`, when a store opens it.

    {sp:<k>}:subj:<subject>    field <type> = record, v:<type> = version
    {sp:<k>}:verif:<subject>   list of "<chain>\\n<seq>", newest first
    {sp:<k>}:seenc:<jti>       the checks of a proof: a counter and a sorted set of
    {sp:<k>}:seeno:<jti>       organisations (now fields of the proof's hash)

Each holder (and each index) moves in a script that writes its bucket and deletes the
old key together, on one slot (both keys carry the shard's hash tag; a script moves the
keys of one shard that one SCAN page found): a crash leaves every holder either where
it was or moved, never both or neither, and the next start
goes on with the keys still of the old form (SCAN finds them). Two processes starting
at once both scan; a key moved by one is skipped by the other (the script finds it
gone). No process serves before its own scan found nothing left to move; then the meta
record says `layout` 2 and later starts skip the scan.

Processes of an earlier release must be stopped before this one starts: they would go
on writing the old layout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from app.storage._lean import decode_entitlement, encode_held_entitlement
from app.storage.redis.conn import Client, ScriptRunner, as_bytes, guarded, unavailable
from app.storage.redis.index import pointer
from app.storage.redis.keys import Layout, subject_token

__all__ = ["LAYOUT", "ensure_layout", "old_index_key", "old_subject_key"]

log = logging.getLogger("statuspass.store")

#: the layout this release writes, kept in the meta record's `layout` field
LAYOUT = 2
_SCAN = 1_000
_LOG_EVERY = 10_000


def old_subject_key(label: str, subject: str) -> str:
    """A holder's hash in the earlier layout."""
    return f"{Layout.prefix(label)}subj:{subject}"


def old_index_key(label: str, subject: str) -> str:
    """A citizen's verification index in the earlier layout."""
    return f"{Layout.prefix(label)}verif:{subject}"


async def ensure_layout(client: Client, layout: Layout, scripts: ScriptRunner) -> None:
    """Move whatever is of the earlier layout, unless the meta record says it is done."""
    raw = await unavailable(client.hget(Layout.META, "layout"))
    if raw is not None and int(as_bytes(raw)) >= LAYOUT:
        return
    mover = _Mover(client, layout, scripts)
    holders = await mover.move("subj", mover.holders)
    indexes = await mover.move("verif", mover.indexes)
    seen = await mover.move("seenc", mover.seen)
    if holders or indexes or seen:
        log.info(
            "store layout %d: moved %d holders, %d verification indexes and the checks"
            " of %d proofs",
            LAYOUT,
            holders,
            indexes,
            seen,
        )
    await unavailable(client.hset(Layout.META, "layout", LAYOUT))


def _parts(key: bytes, kind: str) -> tuple[str, str]:
    """(shard label, subject or jti) of an old key `{sp:<label>}:<kind>:<name>`."""
    text = key.decode("utf-8")
    label = text[len("{sp:") : text.index("}")]
    return label, text[text.index(f"}}:{kind}:") + len(kind) + 3 :]


Batch = Callable[[str, list[bytes]], Awaitable[int]]


class _Mover:
    """SCAN for the old keys of a kind, `_SCAN` at a time; per shard, one script moves
    that batch's keys (one slot: the old keys and their buckets share the hash tag)."""

    def __init__(self, client: Client, layout: Layout, scripts: ScriptRunner) -> None:
        self._client = client
        self._layout = layout
        self._scripts = scripts

    async def move(self, kind: str, batch: Batch) -> int:
        moved, started = 0, time.monotonic()
        logged = 0
        async for keys in self._scan(f"{{sp:*}}:{kind}:*"):
            by_label: dict[str, list[bytes]] = {}
            for key in keys:
                by_label.setdefault(_parts(key, kind)[0], []).append(key)
            done = await asyncio.gather(*(batch(lb, ks) for lb, ks in by_label.items()))
            moved += sum(done)
            if moved - logged >= _LOG_EVERY:
                logged = moved
                log.info(
                    "store layout %d: %d %s keys moved to buckets (%.0f s)",
                    LAYOUT,
                    moved,
                    kind,
                    time.monotonic() - started,
                )
        return moved

    async def _scan(self, match: str) -> AsyncIterator[list[bytes]]:
        page: list[bytes] = []
        async with guarded():
            async for key in self._client.scan_iter(match=match, count=_SCAN):
                page.append(as_bytes(key))
                if len(page) >= _SCAN:
                    yield page
                    page = []
        if page:
            yield page

    async def _read(self, keys: list[bytes], hashes: bool) -> list[Any]:
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                if hashes:
                    pipe.hgetall(key)
                else:
                    pipe.lrange(key, 0, -1)
            return list(await pipe.execute())

    async def holders(self, label: str, keys: list[bytes]) -> int:
        script_keys: list[str] = []
        args: list[str | int | bytes] = []
        for key, fields in zip(keys, await self._read(keys, hashes=True), strict=True):
            subject = _parts(key, "subj")[1]
            moved = self._holder(label, key, subject, fields)
            script_keys += [key.decode("utf-8"), moved[0]]
            args += [len(moved[1]) // 2, *moved[1]]
        return int(await self._scripts.run("MOVE_HOLDERS", script_keys, args))

    def _holder(
        self, label: str, key: bytes, subject: str, fields: dict[Any, Any]
    ) -> tuple[str, list[bytes]]:
        """The holder's bucket and its new fields and values."""
        versions = {
            as_bytes(n)[2:]: int(as_bytes(v)) for n, v in fields.items() if as_bytes(n)[:2] == b"v:"
        }
        out: list[bytes] = []
        place_label, bucket = self._layout.ent_key(subject)
        if place_label != label:
            raise RuntimeError(f"holder key {key!r} is not in its subject's shard")
        for name, value in fields.items():
            type_raw = as_bytes(name)
            if type_raw[:2] == b"v:":
                continue
            ent = decode_entitlement(as_bytes(value))
            # the version the scripts compared against was the v: field
            version = versions.get(type_raw, ent.version)
            ent = msgspec.structs.replace(ent, version=version, subject=subject)
            field = self._layout.ent_place(subject, ent.type)[2]
            out += [field, encode_held_entitlement(ent)]
        return bucket, out

    async def indexes(self, label: str, keys: list[bytes]) -> int:
        script_keys: list[str] = []
        args: list[str | int | bytes] = []
        dropped = 0
        for key, items in zip(keys, await self._read(keys, hashes=False), strict=True):
            subject = _parts(key, "verif")[1]
            packed = []
            for raw in items:
                chain, sep, seq = as_bytes(raw).partition(b"\n")
                if sep and seq.isdigit():
                    packed.append(pointer(label, chain.decode("utf-8"), int(seq)))
                else:  # an entry of the oldest form (a copy of the event): never shown
                    dropped += 1
            script_keys += [key.decode("utf-8"), self._layout.index_key(label, subject)]
            args += [subject_token(subject), b"".join(packed)]
        if dropped:
            log.info(
                "store layout %d: %d index entries of the oldest form dropped", LAYOUT, dropped
            )
        return int(await self._scripts.run("MOVE_INDEXES", script_keys, args))

    async def seen(self, label: str, keys: list[bytes]) -> int:
        script_keys: list[str] = []
        for key in keys:
            jti = _parts(key, "seenc")[1]
            orgs = f"{Layout.prefix(label)}seeno:{jti}"
            script_keys += [key.decode("utf-8"), orgs, self._layout.proof_key(label, jti)]
        return int(await self._scripts.run("MOVE_SEEN", script_keys, []))
