"""What every Redis operation needs: the client, the key layout, the scripts, this
instance's audit chains and a small cache of proof subjects."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec

from app.domain.records import CardRecord, ClientRecord, Entitlement, ProofRecord
from app.storage import redis_scripts, redis_scripts_bulk
from app.storage.redis_audit import Chains
from app.storage.redis_conn import Client, ScriptRunner
from app.storage.redis_keys import Layout

__all__ = ["SCRIPTS", "Ctx", "SubjectCache", "decoders", "encoder"]

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


@dataclass
class Ctx:
    client: Client
    layout: Layout
    scripts: ScriptRunner
    chains: Chains
    subjects: SubjectCache = field(default_factory=SubjectCache)
