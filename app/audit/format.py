"""The audit record's hash and the strict reading of its stored bytes (pure, no I/O).

A record is stored as the exact bytes of its event (its canonical MessagePack array,
`records.encode_event`) beside its place (chain, seq) and the hash of the record before
it. Its hash covers all of them:

    hash = SHA-256("statuspass-audit/2" LF chain LF seq LF prev LF event-bytes)   (hex)

so an edit of any byte, a record moved to another chain or place, or a relinked record
changes it. Nothing is decoded and re-encoded before hashing: the bytes hashed are the
bytes stored. Reading is strict on top of that: the stored bytes must be exactly the
canonical encoding of the event they decode to, so an extra or missing element, another
encoding of a value or trailing bytes (which another reader might interpret
differently) are refused, not silently normalised.

Records written before this format ("legacy") were hashed as SHA-256(prev LF event): a
chain may begin with such records, which `legacy_hash` still checks. Events stored as
JSON (every field by its full name) by earlier releases are read too, held to the
canonical JSON encoding: a duplicate key or an unknown field is refused.
"""

from __future__ import annotations

import hashlib

import msgspec

from app.domain.events import chain_hash, decode_event_checked, event_keys_checked
from app.domain.records import AuditEvent

__all__ = [
    "ARCHIVE_GROUP",
    "RECORD_DOMAIN",
    "VERIFICATION_ACTIONS",
    "NotCanonical",
    "covered_event",
    "decode_event_strict",
    "event_keys_strict",
    "legacy_hash",
    "record_hash",
]

#: the domain separator of a record hash: a hash of another kind never collides with it
RECORD_DOMAIN = b"statuspass-audit/2"

#: the group of records read from archive segments (a store's groups are shard labels)
ARCHIVE_GROUP = "(archive)"

#: the actions `GET /v1/me/verifications` answers with
VERIFICATION_ACTIONS = ("verify", "card_check")


class NotCanonical(ValueError):
    """The stored bytes are not the canonical encoding of one audit event."""


def record_hash(chain: str, seq: int, prev: str, data: bytes) -> str:
    """The hash of the record at (chain, seq) whose predecessor hashes to `prev`."""
    place = (RECORD_DOMAIN, chain.encode("utf-8"), seq, prev.encode("ascii"), data)
    return hashlib.sha256(b"%b\n%b\n%d\n%b\n%b" % place).hexdigest()


def legacy_hash(prev: str, data: bytes) -> str:
    """The hash of a record written before `record_hash` (no chain, no place in it)."""
    return chain_hash(prev, data)


def decode_event_strict(data: bytes) -> AuditEvent:
    """The event stored as `data`, only if `data` is exactly its canonical encoding.

    Raises:
        NotCanonical: the bytes do not decode, or decode to an event whose canonical
            encoding differs (duplicate or unknown keys, other spacing or escapes,
            trailing bytes).
    """
    try:
        event, canonical = decode_event_checked(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise NotCanonical(f"not in canonical form: not an audit event ({exc})") from exc
    if not canonical:
        raise NotCanonical("not in canonical form (a duplicate, unknown or respelt field)")
    return event


def event_keys_strict(data: bytes) -> tuple[str, str | None]:
    """(action, subject) of the event stored as `data`, held to the same rule as
    `decode_event_strict` (what `audit verify` reads of each record).

    Raises:
        NotCanonical: as `decode_event_strict`.
    """
    try:
        action, subject, canonical = event_keys_checked(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise NotCanonical(f"not in canonical form: not an audit event ({exc})") from exc
    if not canonical:
        raise NotCanonical("not in canonical form (a duplicate, unknown or respelt field)")
    return action, subject


def covered_event(
    chain: str, seq: int, prev: str, digest: str, data: bytes, *, subject: str
) -> AuditEvent | None:
    """The verification event stored as `data`, only if its hash covers it and it is a
    check concerning `subject`; None otherwise (an edited record, or an index entry that
    points elsewhere). What a citizen is shown comes only from such covered bytes."""
    if digest not in (record_hash(chain, seq, prev, data), legacy_hash(prev, data)):
        return None
    try:
        event = decode_event_strict(data)
    except NotCanonical:
        return None
    if event.subject != subject or event.action not in VERIFICATION_ACTIONS:
        return None
    return event
