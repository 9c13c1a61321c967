"""The signed checkpoints of the audit log on Redis: a list in the global shard, oldest
first, and beside it (same slot) the count and last note hash of the oldest ones
`audit archive` dropped once they were in the archive (`Layout.CHECKPOINTS_DROPPED`).

Checkpoints are counted over all ever kept, dropped ones too: the count is what a signer
names when it keeps the next one (`scripts_plain.ADD_CHECKPOINT`), so two signers never
both extend the same predecessor, before or after a drop.
"""

from __future__ import annotations

from app.audit.checkpoints import note_hash
from app.storage.redis.conn import as_bytes, guarded, unavailable
from app.storage.redis.ctx import Ctx
from app.storage.redis.keys import Layout

__all__ = [
    "add_checkpoint",
    "checkpoints",
    "dropped_checkpoints",
    "latest_checkpoint",
    "trim_checkpoints",
]

_KEYS = [Layout.CHECKPOINTS, Layout.CHECKPOINTS_DROPPED]


async def add_checkpoint(ctx: Ctx, note: bytes, expected_count: int) -> bool:
    return bool(int(await ctx.scripts.run("ADD_CHECKPOINT", _KEYS, [expected_count, note])))


async def checkpoints(ctx: Ctx) -> list[bytes]:
    notes = await unavailable(ctx.client.lrange(Layout.CHECKPOINTS, 0, -1))
    return [as_bytes(n) for n in notes]


async def latest_checkpoint(ctx: Ctx) -> tuple[int, bytes | None]:
    async with guarded():
        pipe = ctx.client.pipeline(transaction=False)
        pipe.llen(Layout.CHECKPOINTS)
        pipe.lindex(Layout.CHECKPOINTS, -1)
        pipe.get(Layout.CHECKPOINTS_DROPPED)
        count, note, dropped = await pipe.execute()
    return int(count) + _parse(dropped)[0], None if note is None else as_bytes(note)


async def dropped_checkpoints(ctx: Ctx) -> tuple[int, str | None]:
    return _parse(await unavailable(ctx.client.get(Layout.CHECKPOINTS_DROPPED)))


async def trim_checkpoints(ctx: Ctx, upto: int, last: bytes) -> bool:
    done = await ctx.scripts.run("TRIM_CHECKPOINTS", _KEYS, [upto, last, note_hash(last)])
    return bool(int(done))


def _parse(held: bytes | str | None) -> tuple[int, str | None]:
    if held is None:
        return 0, None
    count, _, last = as_bytes(held).decode("ascii").partition(" ")
    return int(count), last
