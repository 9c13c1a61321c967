"""An audited action (`AuditEvent`) and its stored form: the canonical bytes a store
keeps and hashes, read back in either the packed form or the JSON of earlier releases.

`app.domain.records` names all of these too, beside the records that carry them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import msgspec

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "chain_hash",
    "decode_event",
    "decode_event_checked",
    "encode_event",
    "encode_event_legacy",
    "event_keys_checked",
    "event_time_us",
    "is_legacy_event",
]

#: the `prev` of a chain's first record
GENESIS_HASH = "0" * 64


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
#: the times a datetime can hold, in µs since the epoch
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _US
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _US
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


def event_keys_checked(data: bytes) -> tuple[str, str | None, bool]:
    """`decode_event_checked` for a reader of millions of records (`audit verify`) that
    needs only the event's action and subject: (action, subject, canonical), without
    building the event.

    Raises:
        msgspec.DecodeError, msgspec.ValidationError: not an event.
    """
    if is_legacy_event(data):
        event, canonical = decode_event_checked(data)
        return event.action, event.subject, canonical
    p = _packed_decoder.decode(data)
    raw, text = p.subject, p.subject_text
    if raw is not None and text is not None:
        raise msgspec.ValidationError("an event with two subjects")
    if not _MIN_US <= p.at <= _MAX_US:
        raise msgspec.ValidationError("a time out of range")
    canonical = _packer.encode(p) == data and (text is None or not _is_hmac(text))
    return p.action, raw.hex() if raw is not None else text, canonical


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
    if not _MIN_US <= p.at <= _MAX_US:
        raise msgspec.ValidationError("a time out of range")
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
