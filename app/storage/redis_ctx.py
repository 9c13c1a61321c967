"""What every Redis operation needs: the client, the key layout, the scripts, this
instance's audit chains and small caches of proof subjects and of statuses read."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec

from app.domain.records import VALID, CardRecord, ClientRecord, Entitlement, ProofRecord
from app.storage import redis_scripts, redis_scripts_bulk
from app.storage.redis_audit import Chains
from app.storage.redis_conn import Client, ScriptRunner
from app.storage.redis_keys import Layout

__all__ = ["SCRIPTS", "Ctx", "StatusHints", "SubjectCache", "decoders", "encoder"]

#: name -> source of every script a store registers (HEAD and SET_STATUS are fragments)
SCRIPTS = {
    name: getattr(module, name)
    for module in (redis_scripts, redis_scripts_bulk)
    for name in module.__all__
    if isinstance(getattr(module, name), str) and name not in ("HEAD", "SET_STATUS")
}

encoder = msgspec.json.Encoder()


class decoders:  # a namespace, not a type
    client = msgspec.json.Decoder(ClientRecord)
    entitlement = msgspec.json.Decoder(Entitlement)
    card = msgspec.json.Decoder(CardRecord)
    proof = msgspec.json.Decoder(ProofRecord)


class SubjectCache:
    """jti -> subject of proofs this process issued or looked up (bounded LRU).

    A hint only: check_and_record builds its audit records for the cached subject and
    the script confirms it against the proof registry (a miss costs one round trip more,
    never a wrong record). A jti is random and its proof's subject never changes.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._data: OrderedDict[str, str] = OrderedDict()

    def get(self, jti: str) -> str | None:
        subject = self._data.get(jti)
        if subject is not None:
            self._data.move_to_end(jti)
        return subject

    def put(self, jti: str, subject: str) -> None:
        self._data[jti] = subject
        self._data.move_to_end(jti)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


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
