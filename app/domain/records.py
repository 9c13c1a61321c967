"""Stored records: the values the domain hands to, and gets back from, a `Store`.

All are frozen msgspec Structs; wire and storage formats add fields, never repurpose them.
Times are timezone-aware UTC datetimes. `subject` is always the keyed hash (HMAC-SHA-256)
of a national register number, never the number itself.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "AuditRecord",
    "CardRecord",
    "CheckOutcome",
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
    "encode_event",
    "encode_event_legacy",
]

#: status values of the IETF Token Status List (2 bits)
VALID, INVALID, SUSPENDED = 0, 1, 2

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
    """One write of a bulk `save_entitlements` (the arguments of `save_entitlement`)."""

    ent: Entitlement
    expected_version: int | None
    status_updates: tuple[tuple[StatusRef, int], ...] = ()
    cards: tuple[CardRecord, ...] = ()
    audit: AuditEvent


class Seen(msgspec.Struct, frozen=True):
    """How often a `jti` was verified before, and by how many organisations recently."""

    count: int
    organisations: int


class CheckOutcome(msgspec.Struct, frozen=True):
    status: int
    seen: Seen | None


class _StoredEvent(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    rename={
        "actor": "a",
        "action": "x",
        "type": "t",
        "jti": "j",
        "result": "r",
        "reason": "n",
        "subject": "s",
        "org": "o",
        "verification_id": "v",
    },
):
    """An `AuditEvent` as stored: one-letter keys, defaults and nulls left out.

    Still JSON (one line, no raw newline: archive segments and Redis chain records rely
    on it), at about two thirds of the bytes of the long form. `at` keeps its name so
    that a record's time reads the same in both forms.
    """

    at: datetime
    actor: str
    action: str
    type: str | None = None
    jti: str | None = None
    result: str = "ok"
    reason: str | None = None
    subject: str | None = None
    org: str | None = None
    verification_id: str | None = None


_encoder = msgspec.json.Encoder()
_stored_decoder = msgspec.json.Decoder(_StoredEvent)
_legacy_decoder = msgspec.json.Decoder(AuditEvent)


def encode_event(event: AuditEvent) -> bytes:
    """The canonical bytes of an event: its compact form, fixed key order, as msgspec
    writes it."""
    return _encoder.encode(
        _StoredEvent(
            at=event.at,
            actor=event.actor,
            action=event.action,
            type=event.type,
            jti=event.jti,
            result=event.result,
            reason=event.reason,
            subject=event.subject,
            org=event.org,
            verification_id=event.verification_id,
        )
    )


def encode_event_legacy(event: AuditEvent) -> bytes:
    """The canonical bytes of an event in the long form of earlier releases (every field
    by its full name)."""
    return _encoder.encode(event)


def decode_event(data: bytes) -> tuple[AuditEvent, bool]:
    """The event stored as `data` (compact or long form) and whether it was compact.

    Raises:
        msgspec.DecodeError, msgspec.ValidationError: not an event in either form.
    """
    try:
        s = _stored_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _legacy_decoder.decode(data), False
    event = AuditEvent(
        at=s.at,
        actor=s.actor,
        action=s.action,
        type=s.type,
        jti=s.jti,
        result=s.result,
        reason=s.reason,
        subject=s.subject,
        org=s.org,
        verification_id=s.verification_id,
    )
    return event, True


def chain_hash(prev: str, event_bytes: bytes) -> str:
    """SHA-256 over the previous hash (hex, ASCII), a newline and the event's bytes."""
    return hashlib.sha256(prev.encode("ascii") + b"\n" + event_bytes).hexdigest()
