"""What every Redis operation needs: the client, the key layout, the scripts, this
instance's audit chains and small caches of proof subjects, of statuses read and of the
entitlements proofs were issued on."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import msgspec

from app.domain.records import VALID, ClientRecord, Entitlement
from app.storage._lean import (
    decode_card,
    decode_entitlement,
    decode_proof,
    encode_held_entitlement,
)
from app.storage.redis import scripts as redis_scripts
from app.storage.redis import scripts_bulk as redis_scripts_bulk
from app.storage.redis import scripts_plain as redis_scripts_plain
from app.storage.redis.audit import Chains
from app.storage.redis.conn import Client, ScriptRunner, as_bytes
from app.storage.redis.keys import Layout

__all__ = [
    "LATE_CHECK_S",
    "SCRIPTS",
    "Ctx",
    "EntitlementHints",
    "StatusHints",
    "SubjectCache",
    "decoders",
    "encoder",
]

#: name -> source of every script a store registers (HEAD and SET_STATUS are fragments)
SCRIPTS = {
    name: getattr(module, name)
    for module in (redis_scripts, redis_scripts_bulk, redis_scripts_plain)
    for name in module.__all__
    if isinstance(getattr(module, name), str) and name not in ("HEAD", "SET_STATUS")
}

encoder = msgspec.json.Encoder()
T = TypeVar("T")

#: how long after its proof's end a worker still knows a jti's subject: a check of a
#: proof just past its end (clocks a little apart, as the verifier's 60 s skew
#: tolerance allows) keeps its one round trip; later ones ask the registry
LATE_CHECK_S = 60


class _Lean(Generic[T]):
    """A decoder of one compact record kind (`_lean`), JSON of older releases included."""

    __slots__ = ("_decode",)

    def __init__(self, decode: Callable[[bytes], T]) -> None:
        self._decode = decode

    def decode(self, data: bytes | str) -> T:
        return self._decode(as_bytes(data))


class decoders:  # a namespace, not a type
    # clients are few and read rarely: they stay JSON
    client = msgspec.json.Decoder(ClientRecord)
    entitlement = _Lean(decode_entitlement)
    card = _Lean(decode_card)
    proof = _Lean(decode_proof)


class SubjectCache:
    """jti -> subject of proofs this process issued or looked up, while they live.

    A hint only: check_and_record builds its audit records for the cached subject and
    the script confirms it against the proof registry (a miss costs one round trip more,
    never a wrong record). A jti is random and its proof's subject never changes.

    An entry goes once its proof has ended (`until`: the proof's end plus
    `LATE_CHECK_S`), so a worker holds the proofs that can still be checked (about the
    issuance rate times the proof lifetime) and stops growing once the first proofs
    end, rather than the last `size` proofs issued. Beyond `size` live entries, those
    nearest their end go first.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._data: dict[str, tuple[str, int]] = {}  # jti -> (subject, until µs)
        self._ends: list[tuple[int, str]] = []  # a heap of (until µs, jti)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, jti: str, now_us: int) -> str | None:
        hit = self._data.get(jti)
        return hit[0] if hit is not None and hit[1] > now_us else None

    def put(self, jti: str, subject: str, proof_end_us: int, now_us: int) -> None:
        until_us = proof_end_us + LATE_CHECK_S * 1_000_000
        old = self._data.get(jti)
        self._data[jti] = (subject, until_us)
        if old is None or old[1] != until_us:
            heapq.heappush(self._ends, (until_us, jti))
        ends, data = self._ends, self._data
        while ends and (ends[0][0] <= now_us or len(data) > self._size):
            until, gone = heapq.heappop(ends)
            hit = data.get(gone)
            if hit is not None and hit[1] == until:  # else a later put replaced it
                del data[gone]


class StatusHints:
    """(shard, list, idx) -> the status this process last read there, when it was not
    valid (bounded, oldest dropped first).

    A hint only: check_and_record builds its audit record for the status it expects
    (this hint, else valid) and the script confirms it; a wrong hint costs one round
    trip more, never a wrong record. Most entries are valid and are not kept; a revoked
    or suspended proof checked again by this worker takes one round trip, not two.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._data: dict[tuple[str, int, int], int] = {}

    def get(self, entry: tuple[str, int, int], default: int) -> int:
        return self._data.get(entry, default)

    def note(self, entry: tuple[str, int, int], status: int) -> None:
        if status == VALID:
            self._data.pop(entry, None)
            return
        self._data[entry] = status
        if len(self._data) > self._size:
            del self._data[next(iter(self._data))]


class EntitlementHints:
    """(type, subject) -> the entitlement this process last saved a proof on, or that a
    refused save read, with its stored bytes (bounded, least recently used dropped first).

    A hint only: the proof made from it is saved by a script that first compares the
    stored value with the hint's bytes and, when they differ, writes nothing and answers
    with the stored value (`checks.save_proof`). The whole value, not only its version:
    a version number may come back with other contents after a failover that lost
    acknowledged writes, or a restore. A citizen's screen renews its proof every few
    minutes: a renewal at a worker that holds the hint takes one round trip instead of
    two (read, then save); a stale hint costs one round trip more, never a proof for a
    right that changed. An entry takes about 1 kB: 10,000 ~10 MB a worker.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._data: OrderedDict[tuple[str, str], tuple[Entitlement, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, type_id: str, subject: str) -> Entitlement | None:
        key = (type_id, subject)
        hit = self._data.get(key)
        if hit is None:
            return None
        self._data.move_to_end(key)
        return hit[0]

    def stored_form(self, ent: Entitlement) -> bytes:
        """The bytes the store holds for `ent` if it is current: those it was read from
        when it is the hint, else encoded again (the same bytes: `_lean` round trip)."""
        hit = self._data.get((ent.type, ent.subject))
        return hit[1] if hit is not None and hit[0] is ent else encode_held_entitlement(ent)

    def put(self, type_id: str, subject: str, ent: Entitlement | None, stored: bytes) -> None:
        """Remember `ent`, stored as `stored`; None forgets (the store holds none)."""
        key = (type_id, subject)
        if ent is None:
            self._data.pop(key, None)
            return
        self._data[key] = (ent, stored)
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


@dataclass
class Ctx:
    client: Client
    layout: Layout
    scripts: ScriptRunner
    chains: Chains
    #: one server holds every key (not a cluster): a script may touch keys of any slot
    single_node: bool = False
    subjects: SubjectCache = field(default_factory=SubjectCache)
    statuses: StatusHints = field(default_factory=StatusHints)
    entitlements: EntitlementHints = field(default_factory=EntitlementHints)
