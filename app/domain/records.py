"""Stored records: the values the domain hands to, and gets back from, a `Store`.

All are frozen msgspec Structs; wire and storage formats add fields, never repurpose them.
Times are timezone-aware UTC datetimes. `subject` is always the keyed hash (HMAC-SHA-256)
of a national register number, never the number itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import msgspec

from app.tokens.statuslist import STATUS_INVALID, STATUS_SUSPENDED, STATUS_VALID

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "AuditRecord",
    "AuditTrim",
    "CardRecord",
    "CheckOutcome",
    "CheckRequest",
    "ClientRecord",
    "Entitlement",
    "EntitlementWrite",
    "Holder",
    "ProofRecord",
    "Seen",
    "StatusRef",
    "StoredAudit",
    "chain_hash",
    "decode_event",
    "decode_event_checked",
    "encode_event",
    "encode_event_legacy",
    "event_time_us",
    "is_legacy_event",
]

#: status values of the IETF Token Status List (2 bits), as the token core defines them
VALID, INVALID, SUSPENDED = STATUS_VALID, STATUS_INVALID, STATUS_SUSPENDED

GENESIS_HASH = "0" * 64


class StatusRef(msgspec.Struct, frozen=True):
    """Where an entitlement's status lives: list id and index in that list."""

    list_id: str
    idx: int


class Holder(msgspec.Struct, frozen=True):
    given_name: str
    family_name: str


class Entitlement(msgspec.Struct, frozen=True, kw_only=True):
    """One right of one person, written by an authentic source."""

    type: str
    subject: str
    holder: Holder
    valid_from: datetime
    valid_until: datetime
    attributes: dict[str, str]
    status: int  # VALID, INVALID (revoked) or SUSPENDED
    status_ref: StatusRef
    reason: str | None  # why it was revoked/suspended: never shown to a verifier
    version: int  # optimistic concurrency: 1 on creation, +1 on each write
    updated_at: datetime
    updated_by: str  # client id


class CardRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A parking card number, pointing at its own status-list entry."""

    number: str
    subject: str
    status_ref: StatusRef
    valid_until: datetime  # exclusive: the entitlement's valid_until
    # the entitlement's valid_from (None on cards stored before it was kept)
    valid_from: datetime | None = None


class ClientRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An API client: an authentic source or a verifier organisation."""

    id: str
    name: str
    role: str  # "source" or "verifier"
    types: tuple[str, ...]
    key_hash: str  # SHA-256 hex of the API key; the key itself is never stored
    created_at: datetime
    revoked_at: datetime | None = None
    #: the organisation's first client, for a further credential of the same
    #: organisation (`statuspass clients add-key`): one per counter or officer, each
    #: revoked on its own, all one organisation for `seen` and the audit
    org: str | None = None
    #: which counter or officer holds this credential ("Counter 2"), shown on the device
    label: str | None = None

    @property
    def org_id(self) -> str:
        return self.org or self.id


class ProofRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the server keeps of an issued proof (to answer numeric codes and audits)."""

    jti: str
    kid: str
    subject: str
    type: str
    status_ref: StatusRef
    name: str | None
    attributes: dict[str, str]
    issued_at: datetime
    expires_at: datetime


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One audited action. No NRN, no token, no name: a proof is named by its `jti`."""

    at: datetime
    actor: str  # client id, "citizen:<pseudonym prefix>" or "operator"
    # grant, update, revoke, suspend, reinstate, issue, verify, card_check, rate_limited,
    # key_*, client_*
    action: str
    type: str | None = None
    jti: str | None = None
    result: str = "ok"
    reason: str | None = None
    subject: str | None = None  # pseudonym of the citizen concerned, to answer /me/verifications
    org: str | None = None  # display name of the verifier organisation, as it was at the time
    # the `verification_id` the verifier was given: a disputed check is found by it
    verification_id: str | None = None


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: its place in a chain and the hash linking it to the previous one."""

    chain: str
    seq: int
    event: AuditEvent
    prev: str
    hash: str


class StoredAudit(msgspec.Struct, frozen=True, kw_only=True):
    """An audit record exactly as a store holds it, for verifying it.

    `data` are the stored event bytes (the ones hashed); `columns` are copies of event
    fields a store keeps beside them to look records up by (SQLite's `action` and
    `subject`), which must agree with the event; records of one `group` (a Redis shard)
    come one after the other.
    """

    chain: str
    seq: int
    prev: str
    hash: str
    data: bytes
    columns: tuple[tuple[str, str | None], ...] = ()
    group: str = ""


class EntitlementWrite(msgspec.Struct, frozen=True, kw_only=True):
    """One entitlement write (`save_entitlement`, or one of a bulk `save_entitlements`):
    the record, the version it replaces (None: a creation), further status bits to set,
    cards to upsert, and the audit event appended with it."""

    ent: Entitlement
    expected_version: int | None
    status_updates: tuple[tuple[StatusRef, int], ...] = ()
    cards: tuple[CardRecord, ...] = ()
    audit: AuditEvent


class AuditTrim(msgspec.Struct, frozen=True, kw_only=True):
    """Records 1..`upto` of `chain`, now in an archive segment on disk, to drop from the
    store (`trim_archived`): only while record `upto` still hashes to `digest`.
    `before_us` is the archive's cut-off date (µs since the epoch); `checks` the
    (subject, seq) of the checks among them, whose entries in a verification index
    kept apart from the records go with them."""

    chain: str
    upto: int
    digest: str
    before_us: int
    checks: tuple[tuple[str, int], ...] = ()


class Seen(msgspec.Struct, frozen=True):
    """How often a `jti` was verified before, and by how many organisations recently."""

    count: int
    organisations: int


class CheckRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One step of an online check (`check_and_record`): the status entry to read, the
    proof checked (`jti`, None for a card) and whom it concerns when known, the
    verifier's organisation, the time, the window of `seen`, and the audit event to
    append for each status (`audit_by_status[-1]` for any other)."""

    ref: StatusRef
    jti: str | None
    subject: str | None
    org: str
    now: datetime
    seen_window_s: int
    audit_by_status: Mapping[int, AuditEvent]


class CheckOutcome(msgspec.Struct, frozen=True):
    status: int
    seen: Seen | None


class _PackedEvent(msgspec.Struct, array_like=True, frozen=True):
    """An `AuditEvent` as stored: a MessagePack array in a fixed order, time in integer
    microseconds, a hex pseudonym as its 32 raw bytes, an empty field as one byte (nil).

    About 150 bytes for a check instead of 310 as JSON with full names, 80 for a grant
    instead of 235. Fields are only
    ever appended, never reordered or repurposed.
    """

    at: int
    actor: str
    action: str
    type: str | None = None
    jti: str | None = None
    result: str = "ok"
    reason: str | None = None
    subject: bytes | None = None  # a hex HMAC, raw
    subject_text: str | None = None  # any other subject, as it is
    org: str | None = None
    verification_id: str | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_json = msgspec.json.Encoder()
_packer = msgspec.msgpack.Encoder()
_packed_decoder = msgspec.msgpack.Decoder(_PackedEvent)
_legacy_decoder = msgspec.json.Decoder(AuditEvent)


_HMAC = re.compile(r"[0-9a-f]{64}")


def _is_hmac(subject: str) -> bool:
    return _HMAC.fullmatch(subject) is not None


def encode_event(event: AuditEvent) -> bytes:
    """The canonical bytes of an event: its MessagePack array, as msgspec writes it."""
    subject = event.subject
    raw = bytes.fromhex(subject) if subject is not None and _is_hmac(subject) else None
    return _packer.encode(
        _PackedEvent(
            (event.at - _EPOCH) // _US,
            event.actor,
            event.action,
            event.type,
            event.jti,
            event.result,
            event.reason,
            raw,
            subject if raw is None else None,
            event.org,
            event.verification_id,
        )
    )


def encode_event_legacy(event: AuditEvent) -> bytes:
    """The canonical bytes of an event as earlier releases stored it: JSON, every field
    by its full name."""
    return _json.encode(event)


def is_legacy_event(data: bytes) -> bool:
    """Stored as JSON by an earlier release (a MessagePack array never starts with `{`)."""
    return data[:1] == b"{"


def decode_event_checked(data: bytes) -> tuple[AuditEvent, bool]:
    """The event stored as `data` and whether `data` is its canonical encoding, checked
    without encoding the event again from Python (`audit verify` reads every record):
    a packed event is canonical when its decoded array packs back to the same bytes and
    a hex pseudonym is raw, not text.

    Raises:
        msgspec.DecodeError, msgspec.ValidationError: not an event.
    """
    if is_legacy_event(data):
        event = _legacy_decoder.decode(data)
        return event, _json.encode(event) == data
    p = _packed_decoder.decode(data)
    text = p.subject_text
    canonical = _packer.encode(p) == data and (text is None or not _is_hmac(text))
    return _unpacked(p), canonical


def decode_event(data: bytes) -> AuditEvent:
    """The event stored as `data`, in either form (not strict: see
    `audit_format.decode_event_strict`).

    Raises:
        msgspec.DecodeError, msgspec.ValidationError: not an event.
    """
    if is_legacy_event(data):
        return _legacy_decoder.decode(data)
    return _unpacked(_packed_decoder.decode(data))


def _unpacked(p: _PackedEvent) -> AuditEvent:
    if p.subject is not None and p.subject_text is not None:
        # one subject only: a second one, ignored here, could be read by another reader
        raise msgspec.ValidationError("an event with two subjects")
    return AuditEvent(
        at=_EPOCH + timedelta(microseconds=p.at),
        actor=p.actor,
        action=p.action,
        type=p.type,
        jti=p.jti,
        result=p.result,
        reason=p.reason,
        subject=p.subject.hex() if p.subject is not None else p.subject_text,
        org=p.org,
        verification_id=p.verification_id,
    )


def event_time_us(data: bytes) -> int:
    """When the event stored as `data` happened (µs since the epoch), read without
    decoding the rest: the archive reads it for every record."""
    # a packed event: fixarray header, then the time as a uint64 (0xcf) in big endian
    if len(data) >= 10 and 0x90 <= data[0] <= 0x9F and data[1] == 0xCF:
        return int.from_bytes(data[2:10], "big")
    return (decode_event(data).at - _EPOCH) // _US


def chain_hash(prev: str, event_bytes: bytes) -> str:
    """SHA-256 over the previous hash (hex, ASCII), a newline and the event's bytes."""
    return hashlib.sha256(prev.encode("ascii") + b"\n" + event_bytes).hexdigest()
