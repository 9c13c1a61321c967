"""Key layout, shard arithmetic and byte formats of the Redis store.

Every atomic write touches the keys of ONE shard only, so that on a Redis Cluster it is
one slot and MULTI/EXEC or a Lua script never meets CROSSSLOT. A shard is a hash tag:

    {sp:<k>}:...   shard k in 0..P-1: entitlements, cards, status lists, proofs, checks
                   and the audit chains of the subjects that hash to k
    {sp:g}:...     the global shard: clients, the card directory, the meta record and
                   the audit chains of events that concern no subject
    {rl:<key>}:<window start>   one rate counter (each its own slot: spreads the load)
    {spc:<code>}   one numeric code (each its own slot)

Entitlements and the citizens' verification index are kept in buckets, not a key per
subject: `{sp:<k>}:e:<bucket>` and `{sp:<k>}:i:<bucket>` hold the subjects of shard k
whose next bits name that bucket, one hash field per (subject, type) or per subject
(`subject_token`). A key costs Redis ~70-100 bytes before its first byte of data, and a
hash with few fields stays a listpack (one allocation) only while it is small: at two
million holders, a key per holder was ~250 of the ~480 bytes a holder took. (The
earlier layout, `subj:<subject>` and `verif:<subject>`, is rewritten by `migrate`.)

Status lists are owned by shards: the n-th list of shard k has the public id
n * P + k + 1, so any list id names its shard without a lookup, and an entitlement, its
status bit and its audit record always share a slot.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable

from app.domain.records import AuditRecord, decode_event
from app.storage._common import canonical_list_id

__all__ = [
    "BUCKETS",
    "DEFAULT_SHARDS",
    "GLOBAL",
    "Layout",
    "decode_chain_record",
    "encode_chain_record",
    "encode_legacy_chain_record",
    "split_chain_record",
    "split_field",
    "subject_token",
]

DEFAULT_SHARDS = 16
#: entitlement (and verification-index) buckets over all shards. At two million holders
#: a bucket holds ~30 of them (~50 fields with a second type for some), well inside
#: docs/redis.conf's `hash-max-listpack-entries 512`; a bucket key costs ~100 bytes,
#: ~3 bytes a holder at that scale.
BUCKETS = 1 << 16
#: entitlement places remembered (`Layout.ent_place`)
_PLACES = 16_384
#: status-list shard labels remembered (`Layout.shard_of_list`)
_LISTS = 1_024
#: the kinds of bucket keys (short: a key name is stored once per bucket, but read on
#: every command)
ENT = "e"
INDEX = "i"
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
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
        #: buckets per shard: BUCKETS over all shards, whatever their number
        self.buckets = max(1, BUCKETS // shards)
        #: the proof and card keys before and after the shard label (the jti or number
        #: follows), for scripts that learn the label only as they run
        self.proof_around = _around_label(self.proof_key)
        self.card_around = _around_label(self.card_key)
        #: (shard label, bucket key, field) of one entitlement. Batch ingest asks twice
        #: a line (its read, then its write, a few thousand lines apart): remembered for
        #: the last lines (~3 µs a line less, ~4 MB at most)
        self.ent_place = functools.lru_cache(maxsize=_PLACES)(self._ent_place)
        #: the shard label of a status list (`shard_of_list`): asked once per issuance,
        #: for the few lists a store has (~0.5 µs of parsing and formatting saved)
        self.shard_of_list = functools.lru_cache(maxsize=_LISTS)(self._shard_of_list)

    # -- shard arithmetic ---------------------------------------------------------------
    @staticmethod
    def _word(subject: str) -> int:
        """Subjects are hex HMACs: their first 32 bits are already uniform, so use them.

        Anything else (tests, imported data) falls back to SHA-256 of the text, so every
        string has a stable shard and bucket.
        """
        if _HEX8.match(subject):
            return int(subject[:8], 16)
        return int.from_bytes(hashlib.sha256(subject.encode("utf-8")).digest()[:4], "big")

    def shard_of_subject(self, subject: str) -> int:
        return self._word(subject) % self.shards

    def bucket_of(self, subject: str) -> str:
        """The bucket (hex) of a subject within its shard: the same 32 bits, past the
        shard's part, so the buckets of a shard are evenly filled."""
        return f"{self._word(subject) // self.shards % self.buckets:x}"

    def list_place(self, list_id: str) -> tuple[int, int] | None:
        """(shard, n) of a public list id, or None when it is not one of ours."""
        number = canonical_list_id(list_id)
        if number is None:
            return None
        return (number - 1) % self.shards, (number - 1) // self.shards

    def list_id(self, shard: int, n: int) -> str:
        return str(n * self.shards + shard + 1)

    def _shard_of_list(self, list_id: str) -> str:
        """The shard label holding `list_id`; the global one for ids that are not ours."""
        place = self.list_place(list_id)
        return GLOBAL if place is None else str(place[0])

    def labels(self) -> list[str]:
        return [*(str(k) for k in range(self.shards)), GLOBAL]

    def label_of_chain(self, chain: str) -> str:
        """The shard an audit chain lives in: a chain named `<shard>/…` in that shard, any
        other (SQLite's `main`, copied in) in the global one."""
        label, slash, _rest = chain.partition("/")
        return label if slash and label in self.labels() else GLOBAL

    # -- keys -----------------------------------------------------------------------------
    @staticmethod
    def prefix(label: str) -> str:
        """Key prefix (with the hash tag) of the shard named `label`."""
        return f"{{sp:{label}}}:"

    def key(self, kind: str, label: str, name: str | int = "") -> str:
        """The key of `kind` in shard `label`, `name` after the colon."""
        return f"{self.prefix(label)}{kind}:{name}"

    def ent_key(self, subject: str) -> tuple[str, str]:
        """(shard label, key) of the bucket holding a subject's entitlements: a hash of
        field `subject_token(subject) + type` = `b"<version> " + record` (`_lean`)."""
        label, key, _field = self._ent_place(subject, "")
        return label, key

    def _ent_place(self, subject: str, type_id: str) -> tuple[str, str, bytes]:
        """(shard label, bucket key, field) of one entitlement (`ent_place`)."""
        raw = _raw_hmac(subject)  # a hex HMAC decoded once, for its bits and its token
        word = self._word(subject) if raw is None else int.from_bytes(raw[:4], "big")
        label = str(word % self.shards)
        key = f"{{sp:{label}}}:{ENT}:{word // self.shards % self.buckets:x}"
        token = subject_token(subject) if raw is None else b"\x00" + raw
        return label, key, token + type_id.encode("utf-8")

    def index_key(self, label: str, subject: str) -> str:
        """The bucket of shard `label` holding a subject's verification index: a hash of
        field `subject_token(subject)` = packed pointers, newest first (`pointers`)."""
        return self.key(INDEX, label, self.bucket_of(subject))

    def lists_key(self, label: str) -> str:
        """Hash: count = lists of the shard, a<n> = indices allocated in its n-th list."""
        return f"{self.prefix(label)}lists"

    def alloc_key(self, label: str, n: int) -> str:
        return self.key("alloc", label, n)

    def bits_key(self, label: str, n: int) -> str:
        return self.key("bits", label, n)

    def card_key(self, label: str, number: str) -> str:
        return self.key("card", label, number)

    def proof_key(self, label: str, jti: str) -> str:
        return self.key("proof", label, jti)

    def chain_key(self, label: str, chain: str) -> str:
        return self.key("audit", label, chain)

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
    #: "<count> <note hash of the last>" of the oldest checkpoints dropped from the list
    #: once in the archive (same slot: one script drops them and writes this)
    CHECKPOINTS_DROPPED = "{sp:g}:checkpoints-dropped"

    @staticmethod
    def code_key(code: str) -> str:
        return f"{{spc:{code}}}"

    @staticmethod
    def rate_key(key: str, start: int) -> str:
        return f"{{rl:{key}}}:{start}"


def _raw_hmac(subject: str) -> bytes | None:
    """The 32 bytes of a subject that is 64 lowercase hex digits, else None."""
    if len(subject) != 64:
        return None
    try:
        raw = bytes.fromhex(subject)
    except ValueError:
        return None
    return raw if raw.hex() == subject else None  # fromhex takes capitals and spaces


def subject_token(subject: str) -> bytes:
    """A subject as the start of a bucket's field: a hex HMAC as 0x00 and its 32 raw
    bytes, anything else (imports, tests) as 0x01, its UTF-8 length in two bytes and the
    UTF-8. Self-delimiting, so a field `token + type` names one (subject, type) and a
    subject's fields are those that start with its token."""
    raw = _raw_hmac(subject)
    if raw is not None:
        return b"\x00" + raw
    text = subject.encode("utf-8")
    return b"\x01" + len(text).to_bytes(2, "big") + text


def split_field(field: bytes) -> tuple[str, str]:
    """(subject, type) of an entitlement's field in its bucket."""
    if field[:1] == b"\x00":
        return field[1:33].hex(), field[33:].decode("utf-8")
    cut = 3 + int.from_bytes(field[1:3], "big")
    return field[3:cut].decode("utf-8"), field[cut:].decode("utf-8")


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
