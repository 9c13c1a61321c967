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
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from app.audit.format import covered_event, record_hash
from app.domain.records import (
    GENESIS_HASH,
    AuditEvent,
    AuditRecord,
    StoredAudit,
    encode_event,
)
from app.errors import StoreUnavailable
from app.storage._common import VERIFICATION_ACTIONS
from app.storage.redis.conn import Client, ScriptRunner, as_bytes, guarded, unavailable
from app.storage.redis.keys import (
    GLOBAL,
    Layout,
    decode_chain_record,
    encode_chain_record,
    split_chain_record,
)

__all__ = ["Chains", "Prepared", "parse_pointer", "pointer", "prepare"]

log = logging.getLogger("statuspass.audit")

Arg = str | int | bytes
#: builds the script's arguments after the common head for (chain, seq, prev); returns them and
#: a function that tells, from the script's reply, the hash of the record it appended
Build = Callable[[str, int, str], tuple[list[Arg], Callable[[list[Any]], str]]]

#: records per LRANGE when reading a chain: memory stays flat however long it is
_PAGE = 1_000
#: attempts when the chain moved under us (only after lost replies): then give up
_ATTEMPTS = 4
#: most chains per shard and store instance: audited writes to one shard in flight at
#: once (more concurrent writes queue for a lane)
LANES = 64


class Prepared:
    """An event hashed for (seq, prev): the record to push and its verification index."""

    __slots__ = ("digest", "index_key", "index_value", "record")

    def __init__(self, record: bytes, digest: str, index_key: str, index_value: bytes) -> None:
        self.record = record
        self.digest = digest
        self.index_key = index_key
        self.index_value = index_value

    def args(self) -> list[Arg]:
        return [self.record, self.index_key, self.index_value]


def prepare(
    layout: Layout, label: str, chain: str, event: AuditEvent, seq: int, prev: str
) -> Prepared:
    data = encode_event(event)
    digest = record_hash(chain, seq, prev, data)
    record = encode_chain_record(seq, digest, data)
    if event.action in VERIFICATION_ACTIONS and event.subject is not None:
        # kept in the shard being written (same slot); verifications_for reads them all.
        # The index holds where the record is, not a copy of it: what a citizen is shown
        # is read from the chain, from bytes its hash covers.
        return Prepared(record, digest, layout.verif_key(label, event.subject), pointer(chain, seq))
    return Prepared(record, digest, "", b"")


def pointer(chain: str, seq: int) -> bytes:
    """A verification-index entry: the chain and place of the record."""
    return f"{chain}\n{seq}".encode()


def parse_pointer(raw: bytes) -> tuple[str, int] | None:
    chain, sep, seq = raw.partition(b"\n")
    if not sep or not seq.isdigit():
        return None  # an entry of the old format (a copy of the event): not covered
    return chain.decode("utf-8"), int(seq)


class _Lane:
    """One chain of this store instance: its name, its head once known, its lock, and how
    many writes hold or wait for it."""

    __slots__ = ("head", "lock", "name", "users")

    def __init__(self, name: str) -> None:
        self.name = name
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


class Chains:
    """This store instance's chains, `LANES` per shard, and reading every chain."""

    def __init__(self, client: Client, layout: Layout, scripts: ScriptRunner) -> None:
        self._client = client
        self._layout = layout
        self._scripts = scripts
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
            lane = _Lane(f"{label}/{self.chain_id}.{len(shard.lanes)}")
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

    async def archived_of(self, label: str, chain: str) -> tuple[int, str, int] | None:
        async with guarded():
            raw = await self._client.hget(self._layout.archived_key(label), chain)
        return None if raw is None else _archived(as_bytes(raw))

    async def archived(self) -> dict[str, tuple[int, str, int]]:
        """chain -> (records archived, hash of the last, archive date µs), every shard."""
        labels = self._layout.labels()
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            for label in labels:
                pipe.hgetall(self._layout.archived_key(label))
            replies = await pipe.execute()
        return {
            as_bytes(chain).decode("utf-8"): _archived(as_bytes(raw))
            for reply in replies
            for chain, raw in reply.items()
        }

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
        label = chain.partition("/")[0]
        if "/" not in chain or label not in self._layout.labels():
            label = GLOBAL
        keys = [self._layout.chain_key(label, chain), self._layout.archived_key(label)]
        done = await self._scripts.run("TRIM_ARCHIVED", keys, [chain, upto, digest, before_us])
        if not int(done):
            return False
        for start in range(0, len(checks), _PAGE):
            async with guarded():
                pipe = self._client.pipeline(transaction=False)
                for subject, seq in checks[start : start + _PAGE]:
                    # oldest entries are at the tail: LREM from there finds it at once
                    key = self._layout.verif_key(label, subject)
                    pipe.lrem(key, -1, pointer(chain, seq).decode("utf-8"))
                await pipe.execute()
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
        try:
            return await self._run_on(lane, label, script, extra_keys, build, advance)
        finally:
            self._give_back(label, lane)

    async def _run_on(
        self,
        lane: _Lane,
        label: str,
        script: str,
        extra_keys: Sequence[str],
        build: Build,
        advance: int,
    ) -> list[Any]:
        keys = [
            self._layout.chain_key(label, lane.name),
            self._layout.chains_key(label),
            *extra_keys,
        ]
        async with lane.lock:
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
        raise StoreUnavailable("the audit chain kept changing under this writer")

    async def append(self, label: str, event: AuditEvent) -> None:
        def build(chain: str, seq: int, prev: str) -> tuple[list[Arg], Callable[[list[Any]], str]]:
            prepared = prepare(self._layout, label, chain, event, seq, prev)
            return prepared.args(), lambda _reply: prepared.digest

        await self.run(label, "APPEND", [], build)

    # -- reading --------------------------------------------------------------------------
    async def chain_names(self) -> list[tuple[str, str]]:
        """(chain name, shard label) of every registered chain, sorted by name."""
        labels = self._layout.labels()
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            for label in labels:
                pipe.smembers(self._layout.chains_key(label))
            replies = await pipe.execute()
        found = [
            (as_bytes(name).decode("utf-8"), label)
            for label, names in zip(labels, replies, strict=True)
            for name in names
        ]
        return sorted(found)

    async def iter_records(self) -> AsyncIterator[tuple[AuditRecord, bytes]]:
        """Every record with its exact event bytes, chain by chain, in seq order."""
        archived = await self.archived()
        for chain, label in await self.chain_names():
            key = self._layout.chain_key(label, chain)
            prev = archived[chain][1] if chain in archived else GENESIS_HASH
            start = 0
            while True:
                page = await unavailable(self._client.lrange(key, start, start + _PAGE - 1))
                for raw in page:
                    record, data = decode_chain_record(chain, as_bytes(raw), prev)
                    prev = record.hash
                    yield record, data
                if len(page) < _PAGE:
                    break
                start += _PAGE

    async def stored_records(self) -> AsyncIterator[StoredAudit]:
        """Every record exactly as stored, chain by chain (a shard's chains together).

        A record that does not store the hash before it links to the element before it
        (so a deleted or reordered record shows as one whose bytes fail their hash)."""
        archived = await self.archived()
        for chain, label in await self.chain_names():
            key = self._layout.chain_key(label, chain)
            before = archived[chain][1] if chain in archived else GENESIS_HASH
            start = 0
            while True:
                page = await unavailable(self._client.lrange(key, start, start + _PAGE - 1))
                for i, raw in enumerate(page):
                    try:
                        seq, stored_prev, digest, data = split_chain_record(as_bytes(raw))
                        prev = before if stored_prev is None else stored_prev
                    except ValueError:  # not even the layout: reported as not linking
                        seq, prev, digest, data = start + i + 1, "?", "?", as_bytes(raw)
                    before = digest
                    yield StoredAudit(
                        chain=chain, seq=seq, prev=prev, hash=digest, data=data, group=label
                    )
                if len(page) < _PAGE:
                    break
                start += _PAGE

    async def heads(self) -> dict[str, tuple[int, str]]:
        """(records, hash of the last one) of every registered chain; (0, '') for a
        registered chain that holds nothing (deleted)."""
        names = await self.chain_names()
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            for chain, label in names:
                pipe.lindex(self._layout.chain_key(label, chain), -1)
            replies = await pipe.execute()
        heads: dict[str, tuple[int, str]] = {}
        archived = await self.archived() if None in replies else {}
        for (chain, _label), last in zip(names, replies, strict=True):
            if last is None:
                done = archived.get(chain)
                heads[chain] = (done[0], done[1]) if done else (0, "")
            else:
                seq, _prev, digest, _data = split_chain_record(as_bytes(last))
                heads[chain] = (seq, digest)
        return heads

    async def pointers(self, label: str, subjects: Sequence[str]) -> list[list[tuple[str, int]]]:
        """The verification index of each subject in shard `label`, newest first (an
        entry that is not a pointer reads as ("?", 0))."""
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._layout.archived_key(label))
            for subject in subjects:
                pipe.lrange(self._layout.verif_key(label, subject), 0, -1)
            archived, *replies = await pipe.execute()
        base = {as_bytes(c).decode("utf-8"): _archived(as_bytes(v))[0] for c, v in archived.items()}
        out = []
        for reply in replies:
            places = [parse_pointer(as_bytes(raw)) or ("?", 0) for raw in reply]
            # entries whose record went to the archive are outside the window kept
            out.append([p for p in places if p[0] == "?" or p[1] > base.get(p[0], 0)])
        return out

    async def verifications_for(self, subject: str, limit: int) -> list[AuditEvent]:
        """Newest first, read from the chains through the index. A check is indexed in
        the shard of the status list it read, which is the subject's own shard for every
        ref this store allocated; reading all shards (one pipelined round trip) also
        finds the others (imported refs)."""
        if limit <= 0:
            return []
        labels = self._layout.labels()
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            for label in labels:
                pipe.lrange(self._layout.verif_key(label, subject), 0, limit - 1)
                pipe.hgetall(self._layout.archived_key(label))
            replies = await pipe.execute()
        places = []
        archived_by_label: dict[str, dict[str, tuple[int, str, int]]] = {}
        for i, label in enumerate(labels):
            done = archived_by_label[label] = {
                as_bytes(c).decode("utf-8"): _archived(as_bytes(v))
                for c, v in replies[2 * i + 1].items()
            }
            base = {chain: d[0] for chain, d in done.items()}
            for raw in replies[2 * i]:
                place = parse_pointer(as_bytes(raw))
                # an entry whose record went to the archive: outside the window kept
                if place is not None and place[1] > base.get(place[0], 0):
                    places.append((label, place, base.get(place[0], 0)))
        async with guarded():
            pipe = self._client.pipeline(transaction=False)
            for label, (chain, seq), base_seq in places:
                # the record and the one before it, whose hash it links to
                at = seq - 1 - base_seq
                pipe.lrange(self._layout.chain_key(label, chain), max(at - 1, 0), at)
            pages = await pipe.execute()
        events = []
        for (label, (chain, seq), base_seq), page in zip(places, pages, strict=True):
            event = None
            if page and (len(page) == 2 or seq - 1 - base_seq == 0):
                event = _covered_in(chain, seq, page, archived_by_label[label], subject)
            if event is None:
                log.error("audit record %s/%s is missing or fails its hash", chain, seq)
                continue
            events.append(event)
        # each list is newest first; the sort is stable, so equal times keep that order
        events.sort(key=lambda e: e.at, reverse=True)
        return events[:limit]


def _covered_in(
    chain: str,
    seq: int,
    page: list[Any],
    archived: dict[str, tuple[int, str, int]],
    subject: str,
) -> AuditEvent | None:
    """The check at `seq`, the last element of `page` (the element before it first, or
    alone when it is the first the store keeps), if its hash covers it."""
    try:
        stored_seq, stored_prev, digest, data = split_chain_record(as_bytes(page[-1]))
        if stored_prev is not None:
            prev = stored_prev
        elif len(page) == 2:
            prev = split_chain_record(as_bytes(page[0]))[2]
        else:
            prev = archived[chain][1] if chain in archived else GENESIS_HASH
    except ValueError:
        return None
    if stored_seq != seq:
        return None
    return covered_event(chain, seq, prev, digest, data, subject=subject)


def _archived(raw: bytes) -> tuple[int, str, int]:
    upto, digest, before = raw.decode("ascii").split(" ")
    return int(upto), digest, int(before)


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
