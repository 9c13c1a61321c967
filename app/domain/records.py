"""Stored records: the values the domain hands to, and gets back from, a `Store`.

All are frozen msgspec Structs; wire and storage formats add fields, never repurpose them.
Times are timezone-aware UTC datetimes. `subject` is always the keyed hash (HMAC-SHA-256)
of a national register number, never the number itself. The audit event and its stored
bytes are `app.domain.events` (the names the Redis backend takes from here are
re-exported).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from app.domain.events import GENESIS_HASH, AuditEvent, decode_event, encode_event
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
    "decode_event",
    "encode_event",
]

#: status values of the IETF Token Status List (2 bits), as the token core defines them
VALID, INVALID, SUSPENDED = STATUS_VALID, STATUS_INVALID, STATUS_SUSPENDED


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
