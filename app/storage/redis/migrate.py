"""The one-time move of a Redis store of the earlier layout (a hash per holder, a list
per citizen's verification index) to the buckets of `keys`, when a store opens it.

    {sp:<k>}:subj:<subject>    field <type> = record, v:<type> = version
    {sp:<k>}:verif:<subject>   list of "<chain>\\n<seq>", newest first
    {sp:<k>}:seenc:<jti>       the checks of a proof: a counter and a sorted set of
    {sp:<k>}:seeno:<jti>       organisations (now fields of the proof's hash)

Each holder (and each index) moves in one script that writes its bucket and deletes the
old key together, on one slot (both keys carry the shard's hash tag): a crash leaves
every holder either where it was or moved, never both or neither, and the next start
goes on with the keys still of the old form (SCAN finds them). Two processes starting
at once both scan; a key moved by one is skipped by the other (the script finds it
gone). No process serves before its own scan found nothing left to move; then the meta
record says `layout` 2 and later starts skip the scan.

Processes of an earlier release must be stopped before this one starts: they would go
on writing the old layout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

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
    holders = await _move(client, "subj", lambda k: _move_holder(client, layout, scripts, k))
    indexes = await _move(client, "verif", lambda k: _move_index(client, layout, scripts, k))
    seen = await _move(client, "seenc", lambda k: _move_seen(layout, scripts, k))
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


async def _scan(client: Client, match: str) -> AsyncIterator[bytes]:
    async with guarded():
        async for key in client.scan_iter(match=match, count=_SCAN):
            yield as_bytes(key)


async def _move(client: Client, kind: str, move: Callable[[bytes], Awaitable[int]]) -> int:
    moved, started = 0, time.monotonic()
    async for key in _scan(client, f"{{sp:*}}:{kind}:*"):
        moved += int(await move(key))
        if moved and moved % _LOG_EVERY == 0:
            log.info(
                "store layout %d: %d %s keys moved to buckets (%.0f s)",
                LAYOUT,
                moved,
                kind,
                time.monotonic() - started,
            )
    return moved


def _parts(key: bytes, kind: str) -> tuple[str, str]:
    """(shard label, subject) of an old key `{sp:<label>}:<kind>:<subject>`."""
    text = key.decode("utf-8")
    label = text[len("{sp:") : text.index("}")]
    return label, text[text.index(f"}}:{kind}:") + len(kind) + 3 :]


async def _move_holder(client: Client, layout: Layout, scripts: ScriptRunner, key: bytes) -> int:
    label, subject = _parts(key, "subj")
    fields = await unavailable(client.hgetall(key))
    versions = {
        as_bytes(n)[2:]: int(as_bytes(v)) for n, v in fields.items() if as_bytes(n)[:2] == b"v:"
    }
    args: list[str | int | bytes] = []
    bucket = None
    for name, value in fields.items():
        type_raw = as_bytes(name)
        if type_raw[:2] == b"v:":
            continue
        ent = decode_entitlement(as_bytes(value))
        # the version the scripts compared against was the v: field
        version = versions.get(type_raw, ent.version)
        ent = msgspec.structs.replace(ent, version=version, subject=subject)
        place_label, bucket, field = layout.ent_place(subject, type_raw.decode("utf-8"))
        if place_label != label:
            raise RuntimeError(f"holder key {key!r} is not in its subject's shard")
        args += [field, encode_held_entitlement(ent)]
    if bucket is None:  # only versions, or nothing: nothing to keep
        return int(await unavailable(client.delete(key)))
    return int(await scripts.run("MOVE_HOLDER", [key.decode("utf-8"), bucket], args))


async def _move_index(client: Client, layout: Layout, scripts: ScriptRunner, key: bytes) -> int:
    label, subject = _parts(key, "verif")
    items = await unavailable(client.lrange(key, 0, -1))
    packed, dropped = [], 0
    for raw in items:
        chain, sep, seq = as_bytes(raw).partition(b"\n")
        if sep and seq.isdigit():
            packed.append(pointer(label, chain.decode("utf-8"), int(seq)))
        else:  # an entry of the oldest form (a copy of the event): never shown
            dropped += 1
    if dropped:
        log.info("store layout %d: %d index entries of the oldest form dropped", LAYOUT, dropped)
    bucket = layout.index_key(label, subject)
    return int(
        await scripts.run(
            "MOVE_INDEX", [key.decode("utf-8"), bucket], [subject_token(subject), b"".join(packed)]
        )
    )


async def _move_seen(layout: Layout, scripts: ScriptRunner, key: bytes) -> int:
    label, jti = _parts(key, "seenc")
    orgs = f"{Layout.prefix(label)}seeno:{jti}"
    keys = [key.decode("utf-8"), orgs, layout.proof_key(label, jti)]
    return int(await scripts.run("MOVE_SEEN", keys, []))
