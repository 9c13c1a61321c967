"""The audit log on Redis: one hash chain per (process, shard), written inside the
script that makes the audited change.

Why not one chain: SHA-256 is not available to Redis Lua, so the hash is computed here,
against a head this process knows. One global chain would need every writer of every
process to read the head and extend it under a lock (a global serialisation point, and a
cross-slot key on a cluster). Instead each store instance owns, per shard, a few chains
`<shard>/<random id>.<lane>` that nobody else appends to: a head lives in memory, appends
to one chain are serialised by an asyncio lock, and each script re-checks the chain
length, so a write whose reply was lost (timeout) is detected and the head re-read.

Why several per shard (up to `LANES`): the next record's hash needs the previous
record's, and whether a write appended its record is only known from the reply (a check
whose record was built for another status or holder appends nothing and is sent again).
So one chain allows one audited write in flight. A write takes an idle chain ("lane") of
its shard, or opens a new one when every lane has a write in flight, up to `LANES`;
only then do writes queue behind each other's round trips (fsync included, with
appendfsync always). With a fixed four lanes per shard, ~1% of the writes of a worker
with 32 checks in flight (`bench/inproc.py`) found every lane of their shard taken; each
waited a round trip and fell out of step with the others, and the batches the worker
sent collapsed from ~9 commands a write to ~1.4 (redis-server 170-240 instead of 60-77
µs per check). That benchmark keeps its requests in step; over HTTP they are not, and
the change made no measurable difference there. A quiet worker
keeps to one chain: lanes open only under concurrency, and the idle lane taken is the
one last used.

The price: the log is many chains. Each one verifies on its own (`verify_audit`); the
signed checkpoints list every chain with its length and last hash, so a whole chain
deleted (with its name in the shard's registry set, or not) is seen against them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from app.audit.format import record_hash
from app.domain.records import (
    GENESIS_HASH,
    AuditEvent,
    encode_event,
)
from app.errors import StoreUnavailable
from app.storage._common import VERIFICATION_ACTIONS
from app.storage.redis.audit_read import ChainReader
from app.storage.redis.conn import Client, ScriptRunner, as_bytes, guarded
from app.storage.redis.index import pointer, unindex
from app.storage.redis.keys import (
    Layout,
    encode_chain_record,
    split_chain_record,
    subject_token,
)

__all__ = ["Arg", "Chains", "Prepared", "prepare"]

log = logging.getLogger("statuspass.audit")

Arg = str | int | bytes
#: builds the script's arguments after the common head for (chain, seq, prev); returns them and
#: a function that tells, from the script's reply, the hash of the record it appended
Build = Callable[[str, int, str], tuple[list[Arg], Callable[[list[Any]], str]]]

#: records per LRANGE when reading a chain: memory stays flat however long it is
_PAGE = 1_000
#: citizens a script when an archive run drops the index entries of archived checks: each
#: script runs ~1 ms on redis-server, during which the service's commands wait (1,000 a
#: script, 64 in flight: verify's p99 2.7x its p99 without while archiving,
#: `bench/archive_latency.py`)
_UNINDEX_PAGE = 250
#: attempts when the chain moved under us (only after lost replies): then give up
_ATTEMPTS = 4
#: most chains per shard and store instance: audited writes to one shard in flight at
#: once (more concurrent writes queue for a lane)
LANES = 64


class Prepared:
    """An event hashed for (seq, prev): the record to push and its verification index."""

    __slots__ = ("digest", "index_entry", "index_key", "record")

    def __init__(self, record: bytes, digest: str, index_key: str, index_entry: bytes) -> None:
        self.record = record
        self.digest = digest
        self.index_key = index_key
        #: the subject's field in the index bucket, then the entry (`scripts.HEAD`)
        self.index_entry = index_entry

    def args(self) -> list[Arg]:
        return [self.record, self.index_key, self.index_entry]


def prepare(
    layout: Layout, label: str, chain: str, event: AuditEvent, seq: int, prev: str
) -> Prepared:
    data = encode_event(event)
    digest = record_hash(chain, seq, prev, data)
    record = encode_chain_record(seq, digest, data)
    if event.action in VERIFICATION_ACTIONS and event.subject is not None:
        # kept in the shard being written (same slot); verifications_for reads them all
        entry = subject_token(event.subject) + pointer(label, chain, seq)
        return Prepared(record, digest, layout.index_key(label, event.subject), entry)
    return Prepared(record, digest, "", b"")


class _Lane:
    """One chain of this store instance: its name, its head once known, its lock, and how
    many writes hold or wait for it."""

    __slots__ = ("head", "keys", "lock", "name", "users")

    def __init__(self, name: str, keys: tuple[str, str]) -> None:
        self.name = name
        #: the chain's list and its shard's registry of chains (every script's first keys)
        self.keys = keys
        self.head: tuple[int, str] | None = None  # (seq, hash) of the last record
        self.lock = asyncio.Lock()
        self.users = 0


class _Shard:
    """The lanes of one shard: all of them, and those no write holds or waits for (a
    stack: the one freed last is taken first, so a quiet worker keeps to one chain)."""

    __slots__ = ("idle", "lanes", "turn")

    def __init__(self) -> None:
        self.lanes: list[_Lane] = []
        self.idle: list[_Lane] = []
        self.turn = 0


class Chains(ChainReader):
    """This store instance's chains, `LANES` per shard, and reading every chain."""

    def __init__(self, client: Client, layout: Layout, scripts: ScriptRunner) -> None:
        super().__init__(client, layout, scripts)
        self.chain_id = secrets.token_hex(8)
        self._shards: dict[str, _Shard] = {}

    def _take(self, label: str) -> _Lane:
        """A lane of shard `label` for one write: an idle one, else a new one, else (all
        `LANES` busy) the next in turn, to wait for. Give it back with `_give_back`."""
        shard = self._shards.get(label)
        if shard is None:
            shard = self._shards[label] = _Shard()
        if shard.idle:
            lane = shard.idle.pop()
        elif len(shard.lanes) < LANES:
            name = f"{label}/{self.chain_id}.{len(shard.lanes)}"
            keys = (self._layout.chain_key(label, name), self._layout.chains_key(label))
            lane = _Lane(name, keys)
            # a new name (chain_id is random): empty, no need to read its head (the
            # script's length check still guards)
            lane.head = (0, GENESIS_HASH)
            shard.lanes.append(lane)
        else:
            shard.turn += 1
            lane = shard.lanes[shard.turn % LANES]
        lane.users += 1
        return lane

    def _give_back(self, label: str, lane: _Lane) -> None:
        lane.users -= 1
        if lane.users == 0:
            self._shards[label].idle.append(lane)

    async def _load_head(self, label: str, chain: str) -> tuple[int, str]:
        key = self._layout.chain_key(label, chain)
        async with guarded():
            last = await self._client.lindex(key, -1)
        if last is None:  # empty, or every record archived
            done = await self.archived_of(label, chain)
            return (done[0], done[1]) if done else (0, GENESIS_HASH)
        seq, _prev, digest, _ = split_chain_record(as_bytes(last))
        return seq, digest

    async def trim(
        self,
        chain: str,
        upto: int,
        digest: str,
        before_us: int,
        checks: Sequence[tuple[str, int]] = (),
    ) -> bool:
        """Drop the chain's records 1..upto, then the citizens' index entries of the
        `checks` among them: the index holds only what the window keeps, and a citizen
        checked once stops costing memory once that check is archived. (An entry left
        behind, by a run that died between the two steps, is skipped by every reader.)"""
        label = self._layout.label_of_chain(chain)
        keys = [self._layout.chain_key(label, chain), self._layout.archived_key(label)]
        done = await self._scripts.run("TRIM_ARCHIVED", keys, [chain, upto, digest, before_us])
        if not int(done):
            return False
        await unindex(self._layout, self._scripts, label, chain, checks, _UNINDEX_PAGE)
        return True

    async def run(
        self,
        label: str,
        script: str,
        extra_keys: Sequence[str],
        build: Build,
        *,
        advance: int = 1,
    ) -> list[Any]:
        """Run an audited script on shard `label`; returns its reply ('O', 'V' or 'S' …).
        `build` gets the seq of the first record it appends.

        The head advances only on 'O'. On any exception the outcome is unknown, so the
        head is forgotten and re-read (with the length check as a second guard).
        """
        lane = self._take(label)
        keys = [*lane.keys, *extra_keys]
        try:
            # acquire/release rather than `async with`: 0.2 µs less per audited write
            await lane.lock.acquire()
            try:
                for _ in range(_ATTEMPTS):
                    head = lane.head
                    if head is None:
                        head = await self._load_head(label, lane.name)
                    seq, prev = head
                    tail, digest_of = build(lane.name, seq + 1, prev)
                    try:
                        reply: list[Any] = await self._scripts.run(
                            script, keys, [seq, lane.name, *tail]
                        )
                    except BaseException:
                        lane.head = None
                        raise
                    kind = _text(reply[0])
                    if kind == "C":
                        lane.head = None
                        continue
                    # `advance` records appended on 'O' (a bulk write appends several)
                    lane.head = (seq + advance, digest_of(reply)) if kind == "O" else head
                    return [kind, *reply[1:]]
            finally:
                lane.lock.release()
        finally:
            self._give_back(label, lane)
        raise StoreUnavailable("the audit chain kept changing under this writer")

    async def append(self, label: str, event: AuditEvent) -> None:
        def build(chain: str, seq: int, prev: str) -> tuple[list[Arg], Callable[[list[Any]], str]]:
            prepared = prepare(self._layout, label, chain, event, seq, prev)
            return prepared.args(), lambda _reply: prepared.digest

        await self.run(label, "APPEND", [], build)


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
