"""Reading the audit chains of the Redis store (see `audit` for how they are written):
every record in order, the chains' heads, and the citizens' index into them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from app.audit.format import covered_event
from app.domain.records import GENESIS_HASH, AuditEvent, AuditRecord, StoredAudit
from app.storage.redis.conn import Client, ScriptRunner, as_bytes, guarded, unavailable
from app.storage.redis.index import entries
from app.storage.redis.keys import (
    Layout,
    decode_chain_record,
    split_chain_record,
    subject_token,
)

__all__ = ["ChainReader"]

log = logging.getLogger("statuspass.audit")

#: records per LRANGE when reading a chain: memory stays flat however long it is
_PAGE = 1_000


class ChainReader:
    """Every chain of a store, read."""

    def __init__(self, client: Client, layout: Layout, scripts: ScriptRunner) -> None:
        self._client = client
        self._layout = layout
        self._scripts = scripts

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

    async def _pages(self) -> AsyncIterator[tuple[str, str, str, int, list[Any]]]:
        """(chain, shard label, hash before its first kept record, offset, page) of
        every chain, `_PAGE` elements at a time: memory stays flat however long it is."""
        archived = await self.archived()
        for chain, label in await self.chain_names():
            key = self._layout.chain_key(label, chain)
            first = archived[chain][1] if chain in archived else GENESIS_HASH
            start = 0
            while True:
                page = await unavailable(self._client.lrange(key, start, start + _PAGE - 1))
                yield chain, label, first, start, page
                if len(page) < _PAGE:
                    break
                start += _PAGE

    async def iter_records(self) -> AsyncIterator[tuple[AuditRecord, bytes]]:
        """Every record with its exact event bytes, chain by chain, in seq order."""
        prev = GENESIS_HASH
        async for chain, _label, first, start, page in self._pages():
            prev = first if start == 0 else prev
            for raw in page:
                record, data = decode_chain_record(chain, as_bytes(raw), prev)
                prev = record.hash
                yield record, data

    async def stored_records(self) -> AsyncIterator[StoredAudit]:
        """Every record exactly as stored, chain by chain (a shard's chains together).

        A record that does not store the hash before it links to the element before it
        (so a deleted or reordered record shows as one whose bytes fail their hash)."""
        before = GENESIS_HASH
        async for chain, label, first, start, page in self._pages():
            before = first if start == 0 else before
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
        entry that is not a pointer reads as ("?", 0)): one script for them all (a
        pipeline of HGETs costs redis-py ~60 µs of Python a command)."""
        async with guarded():
            archived = await self._client.hgetall(self._layout.archived_key(label))
        keys = [self._layout.index_key(label, subject) for subject in subjects]
        tokens: list[str | int | bytes] = [subject_token(s) for s in subjects]
        replies = await self._scripts.run("GET_MANY", keys, tokens) if subjects else []
        base = {as_bytes(c).decode("utf-8"): _archived(as_bytes(v))[0] for c, v in archived.items()}
        out = []
        for reply in replies:
            places = entries(label, as_bytes(reply or b""))
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
            token = subject_token(subject)
            for label in labels:
                pipe.hget(self._layout.index_key(label, subject), token)
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
            for place in entries(label, as_bytes(replies[2 * i] or b""))[:limit]:
                # an entry whose record went to the archive: outside the window kept
                if place[0] != "?" and place[1] > base.get(place[0], 0):
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
