"""Key layout, shard arithmetic and byte formats of the Redis store.

Every atomic write touches the keys of ONE shard only, so that on a Redis Cluster it is
one slot and MULTI/EXEC or a Lua script never meets CROSSSLOT. A shard is a hash tag:

    {sp:<k>}:...   shard k in 0..P-1: entitlements, cards, status lists, proofs, checks
                   and the audit chains of the subjects that hash to k
    {sp:g}:...     the global shard: clients, the card directory, the meta record and
                   the audit chains of events that concern no subject
    {rl:<key>}:<window start>   one rate counter (each its own slot: spreads the load)
    {spc:<code>}   one numeric code (each its own slot)

Status lists are owned by shards: the n-th list of shard k has the public id
n * P + k + 1, so any list id names its shard without a lookup, and an entitlement, its
status bit and its audit record always share a slot.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from app.domain.records import AuditRecord, decode_event
from app.storage._common import canonical_list_id

__all__ = [
    "DEFAULT_SHARDS",
    "GLOBAL",
    "Layout",
    "decode_chain_record",
    "encode_chain_record",
    "encode_legacy_chain_record",
    "redis_to_ietf",
    "split_chain_record",
]

DEFAULT_SHARDS = 16
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_HEX64_BYTES = re.compile(rb"[0-9a-f]{64}")
#: the label of the global shard (in chain names and hash tags)
GLOBAL = "g"


def _around_label(key_of: Callable[[str, str], str]) -> tuple[str, str]:
    """The text of `key_of(label, name)` before and after the label (`name` left out)."""
    head, _, tail = key_of("\x00", "").partition("\x00")
    return head, tail


class Layout:
    """Key names for a store with `shards` shards."""

    def __init__(self, shards: int) -> None:
        if not 1 <= shards <= 1024:
            raise ValueError("shards must be in 1..1024")
        self.shards = shards
        #: the proof and card keys before and after the shard label (the jti or number
        #: follows), for scripts that learn the label only as they run
        self.proof_around = _around_label(self.proof_key)
        self.card_around = _around_label(self.card_key)

    # -- shard arithmetic ---------------------------------------------------------------
    def shard_of_subject(self, subject: str) -> int:
        """Subjects are hex HMACs: their first 32 bits are already uniform, so use them.

        Anything else (tests, imported data) falls back to SHA-256 of the text, so every
        string has a stable shard.
        """
        if _HEX8.match(subject):
            return int(subject[:8], 16) % self.shards
        digest = hashlib.sha256(subject.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") % self.shards

    def list_place(self, list_id: str) -> tuple[int, int] | None:
        """(shard, n) of a public list id, or None when it is not one of ours."""
        number = canonical_list_id(list_id)
        if number is None:
            return None
        return (number - 1) % self.shards, (number - 1) // self.shards

    def list_id(self, shard: int, n: int) -> str:
        return str(n * self.shards + shard + 1)

    def shard_of_list(self, list_id: str) -> str:
        """The shard label holding `list_id`; the global one for ids that are not ours."""
        place = self.list_place(list_id)
        return GLOBAL if place is None else str(place[0])

    def labels(self) -> list[str]:
        return [*(str(k) for k in range(self.shards)), GLOBAL]

    # -- keys -----------------------------------------------------------------------------
    @staticmethod
    def prefix(label: str) -> str:
        """Key prefix (with the hash tag) of the shard named `label`."""
        return f"{{sp:{label}}}:"

    def subject_key(self, label: str, subject: str) -> str:
        """Hash of a subject's entitlements: field <type> = record, v:<type> = version."""
        return f"{self.prefix(label)}subj:{subject}"

    def lists_key(self, label: str) -> str:
        """Hash: count = lists of the shard, a<n> = indices allocated in its n-th list."""
        return f"{self.prefix(label)}lists"

    def alloc_key(self, label: str, n: int) -> str:
        return f"{self.prefix(label)}alloc:{n}"

    def bits_key(self, label: str, n: int) -> str:
        return f"{self.prefix(label)}bits:{n}"

    def card_key(self, label: str, number: str) -> str:
        return f"{self.prefix(label)}card:{number}"

    def proof_key(self, label: str, jti: str) -> str:
        return f"{self.prefix(label)}proof:{jti}"

    def seen_count_key(self, label: str, jti: str) -> str:
        return f"{self.prefix(label)}seenc:{jti}"

    def seen_orgs_key(self, label: str, jti: str) -> str:
        return f"{self.prefix(label)}seeno:{jti}"

    def verif_key(self, label: str, subject: str) -> str:
        return f"{self.prefix(label)}verif:{subject}"

    def chain_key(self, label: str, chain: str) -> str:
        return f"{self.prefix(label)}audit:{chain}"

    def archived_key(self, label: str) -> str:
        """Hash chain -> "<records archived> <hash of the last> <date µs>" (the `chains`
        key's name with `archived` for `chains`: the scripts derive one from the other)."""
        return f"{self.prefix(label)}archived"

    def chains_key(self, label: str) -> str:
        """Set of the chain names of a shard: the registry that shows a deleted chain."""
        return f"{self.prefix(label)}chains"

    # global shard
    META = "{sp:g}:meta"
    CLIENTS = "{sp:g}:clients"  # hash id -> record
    CLIENT_KEYS = "{sp:g}:clientkeys"  # hash key_hash -> id
    CARD_DIR = "{sp:g}:carddir"  # hash card number -> shard label
    CHECKPOINTS = "{sp:g}:checkpoints"  # list of signed audit checkpoints, oldest first

    @staticmethod
    def code_key(code: str) -> str:
        return f"{{spc:{code}}}"

    @staticmethod
    def rate_key(key: str, start: int) -> str:
        return f"{{rl:{key}}}:{start}"


# -- status list packing ------------------------------------------------------------------
def _pairs_reversed(byte: int) -> int:
    # BITFIELD u2 #i puts entry i at bits 2i, 2i+1 counted from the most significant bit
    # of the string, high bit first; the IETF list wants entry i of a byte at bits 2i,
    # 2i+1 from the least significant bit, low bit first. Within one byte that is the
    # order of the four 2-bit pairs reversed, each pair kept as it is.
    return (
        ((byte >> 6) & 3) | (((byte >> 4) & 3) << 2) | (((byte >> 2) & 3) << 4) | ((byte & 3) << 6)
    )


_TABLE = bytes(_pairs_reversed(b) for b in range(256))


def redis_to_ietf(raw: bytes) -> bytes:
    """Redis BITFIELD u2 layout to the IETF Token Status List packing (and back: the
    translation is its own inverse)."""
    return raw.translate(_TABLE)


# -- audit records in a chain list ----------------------------------------------------------
def encode_chain_record(seq: int, digest: str, event_bytes: bytes) -> bytes:
    """One list element: seq and a newline, the record's hash as 32 raw bytes, then the
    event's exact bytes (the ones hashed).

    The hash of the record before it is not stored: it is the hash of the element before
    (of the chain's last archived record, or the genesis hash, for the first one), so a
    record takes ~100 bytes less than with both hashes in hex. Elements of the earlier
    layout (`encode_legacy_chain_record`) are still read."""
    return b"%d\n" % seq + bytes.fromhex(digest) + event_bytes


def encode_legacy_chain_record(seq: int, prev: str, digest: str, event_bytes: bytes) -> bytes:
    """An element of the earlier layout: seq, prev and hash in hex on their own lines."""
    return f"{seq}\n{prev}\n{digest}\n".encode("ascii") + event_bytes


def split_chain_record(raw: bytes) -> tuple[int, str | None, str, bytes]:
    """seq, prev (None: not stored, the hash of the element before), hash and the exact
    event bytes of one list element, of either layout.

    The earlier layout has 64 hex digits (the prev) and a newline after the first
    newline; in the compact one those are the raw hash (32 random bytes: all hex digits
    with a chance of 2^-128) and the event.

    Raises:
        ValueError: not an element of either layout.
    """
    cut = raw.index(b"\n")
    seq = int(raw[:cut])
    if raw[cut + 65 : cut + 66] == b"\n" and _HEX64_BYTES.fullmatch(raw, cut + 1, cut + 65):
        _seq, prev, digest, data = raw.split(b"\n", 3)
        return seq, prev.decode("ascii"), digest.decode("ascii"), data
    digest_raw = raw[cut + 1 : cut + 33]
    if len(digest_raw) != 32:
        raise ValueError("an audit chain element too short for its hash")
    return seq, None, digest_raw.hex(), raw[cut + 33 :]


def decode_chain_record(chain: str, raw: bytes, prev: str) -> tuple[AuditRecord, bytes]:
    """The record and the exact event bytes stored; `prev` is the hash of the element
    before (used when the element does not store it)."""
    seq, stored_prev, digest, data = split_chain_record(raw)
    record = AuditRecord(
        chain=chain,
        seq=seq,
        event=decode_event(data),
        prev=prev if stored_prev is None else stored_prev,
        hash=digest,
    )
    return record, data
