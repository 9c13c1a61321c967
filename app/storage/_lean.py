"""The compact stored form of entitlements, cards and proofs, on every store.

A record was its msgspec JSON: long field names repeated in every value, times as 27
characters of ISO text, the subject as 64 hex digits. At two million holders that was
most of Redis's memory. Stored now as a MessagePack array (msgspec `array_like`): the
fields in a fixed order, no names, times as integer microseconds since the epoch, a
hex subject as its 32 raw bytes. An entitlement takes ~110 bytes instead of ~400.

Records stored before this form (JSON objects) are still read: a MessagePack array
starts with a byte of 0x90-0x9f or 0xdc, a JSON object with `{`, so the two never
meet. New writes are compact; `statuspass store copy` and the SQLite migration to
schema 6 rewrite the old ones.

On Redis an entitlement is a field of its holder's bucket (`app.storage.redis.keys`),
whose name already says the subject and the type: there it is stored without them, and
with its version first, as decimal digits and a space, so that a Lua script compares
versions without decoding the record (`encode_held_entitlement`), times in whole seconds
where they are and the writing client's id as a number: ~65 bytes.

Wire formats are versioned by position: fields are only ever appended (with defaults),
never reordered or repurposed.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

import msgspec

from app.domain.records import CardRecord, Entitlement, Holder, ProofRecord, StatusRef

__all__ = [
    "decode_card",
    "decode_entitlement",
    "decode_held_entitlement",
    "decode_proof",
    "encode_card",
    "encode_entitlement",
    "encode_held_entitlement",
    "encode_proof",
    "held_version",
    "is_legacy",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEX64 = re.compile(r"[0-9a-f]{64}")


_ONE_US = timedelta(microseconds=1)


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_US


_LAST = datetime.max.replace(tzinfo=UTC)
_LAST_US = (_LAST - _EPOCH) // _ONE_US


def _at(us: int) -> datetime:
    # an end written with an offset before dates were checked at input (9999-12-31 at
    # -05:00) lies past the last UTC datetime: it reads as that last one, a few hours
    # earlier in the year 9999, rather than making the record unreadable
    return _LAST if us > _LAST_US else _EPOCH + timedelta(microseconds=us)


def _pack_subject(subject: str) -> tuple[bytes | None, str | None]:
    """(raw HMAC, None) for a hex HMAC, the usual case; (None, text) for anything else."""
    if _HEX64.fullmatch(subject):
        return bytes.fromhex(subject), None
    return None, subject


def _unpack_subject(raw: bytes | None, text: str | None) -> str:
    return raw.hex() if raw is not None else (text or "")


class _Ent(msgspec.Struct, array_like=True, frozen=True):
    type: str
    subject: bytes | None
    subject_text: str | None
    given_name: str
    family_name: str
    valid_from: int
    valid_until: int
    attributes: dict[str, str] | None
    status: int
    list_id: str
    idx: int
    reason: str | None
    version: int
    updated_at: int
    updated_by: str


class _Held(msgspec.Struct, array_like=True, frozen=True):
    """An entitlement without what its Redis field names (subject, type) and without its
    version (stored before it, in the clear). Times as `_time` writes them; the client
    that wrote it as an integer when its id is `c_` and 16 hex digits (as
    `app.domain.clients` makes them), else its text."""

    given_name: str
    family_name: str
    valid_from: int
    valid_until: int
    attributes: dict[str, str] | None
    status: int
    list_id: str
    idx: int
    reason: str | None
    updated_at: int
    updated_by: int | str


_CLIENT_ID = re.compile(r"c_[0-9a-f]{16}")
_S = 1_000_000


@functools.lru_cache(maxsize=1024)
def _client_number(client_id: str) -> int | str:
    """A client id as stored in `_Held` (few clients write: cached)."""
    return int(client_id[2:], 16) if _CLIENT_ID.fullmatch(client_id) else client_id


@functools.lru_cache(maxsize=1024)
def _client_id(number: int) -> str:
    return f"c_{number:016x}"


def _time(at: datetime) -> int:
    """Twice the seconds since the epoch for a time in whole seconds (dates of validity
    mostly are: 5 bytes of MessagePack until 2038, not 9), else twice the microseconds
    plus one."""
    us = _us(at)
    return us // _S * 2 if us % _S == 0 else us * 2 + 1


def _from_time(value: int) -> datetime:
    return _at(value >> 1 if value & 1 else (value >> 1) * _S)


class _Card(msgspec.Struct, array_like=True, frozen=True):
    number: str
    subject: bytes | None
    subject_text: str | None
    list_id: str
    idx: int
    valid_until: int
    valid_from: int | None


class _Proof(msgspec.Struct, array_like=True, frozen=True):
    jti: str
    kid: str
    subject: bytes | None
    subject_text: str | None
    type: str
    list_id: str
    idx: int
    name: str | None
    attributes: dict[str, str] | None
    issued_at: int
    expires_at: int


_encoder = msgspec.msgpack.Encoder()
_ent_decoder = msgspec.msgpack.Decoder(_Ent)
_held_decoder = msgspec.msgpack.Decoder(_Held)
_card_decoder = msgspec.msgpack.Decoder(_Card)
_proof_decoder = msgspec.msgpack.Decoder(_Proof)
_legacy_ent = msgspec.json.Decoder(Entitlement)
_legacy_card = msgspec.json.Decoder(CardRecord)
_legacy_proof = msgspec.json.Decoder(ProofRecord)


def is_legacy(data: bytes) -> bool:
    """A record stored as JSON, before the compact form."""
    return data[:1] == b"{"


def encode_entitlement(ent: Entitlement) -> bytes:
    raw, text = _pack_subject(ent.subject)
    return _encoder.encode(
        _Ent(
            ent.type,
            raw,
            text,
            ent.holder.given_name,
            ent.holder.family_name,
            _us(ent.valid_from),
            _us(ent.valid_until),
            ent.attributes or None,
            ent.status,
            ent.status_ref.list_id,
            ent.status_ref.idx,
            ent.reason,
            ent.version,
            _us(ent.updated_at),
            ent.updated_by,
        )
    )


def decode_entitlement(data: bytes) -> Entitlement:
    if is_legacy(data):
        return _legacy_ent.decode(data)
    e = _ent_decoder.decode(data)
    return Entitlement(
        type=e.type,
        subject=_unpack_subject(e.subject, e.subject_text),
        holder=Holder(e.given_name, e.family_name),
        valid_from=_at(e.valid_from),
        valid_until=_at(e.valid_until),
        attributes=e.attributes or {},
        status=e.status,
        status_ref=StatusRef(e.list_id, e.idx),
        reason=e.reason,
        version=e.version,
        updated_at=_at(e.updated_at),
        updated_by=e.updated_by,
    )


def encode_held_entitlement(ent: Entitlement) -> bytes:
    """`b"<version> "` and the record without subject, type and version."""
    return b"%d " % ent.version + _encoder.encode(
        _Held(
            ent.holder.given_name,
            ent.holder.family_name,
            _time(ent.valid_from),
            _time(ent.valid_until),
            ent.attributes or None,
            ent.status,
            ent.status_ref.list_id,
            ent.status_ref.idx,
            ent.reason,
            _time(ent.updated_at),
            _client_number(ent.updated_by),
        )
    )


def held_version(data: bytes) -> int:
    """The version of a value written by `encode_held_entitlement`."""
    return int(data[: data.index(b" ")])


def decode_held_entitlement(type_id: str, subject: str, data: bytes) -> Entitlement:
    cut = data.index(b" ")
    e = _held_decoder.decode(data[cut + 1 :])
    by = e.updated_by
    return Entitlement(
        type=type_id,
        subject=subject,
        holder=Holder(e.given_name, e.family_name),
        valid_from=_from_time(e.valid_from),
        valid_until=_from_time(e.valid_until),
        attributes=e.attributes or {},
        status=e.status,
        status_ref=StatusRef(e.list_id, e.idx),
        reason=e.reason,
        version=int(data[:cut]),
        updated_at=_from_time(e.updated_at),
        updated_by=_client_id(by) if isinstance(by, int) else by,
    )


def encode_card(card: CardRecord) -> bytes:
    raw, text = _pack_subject(card.subject)
    valid_from = None if card.valid_from is None else _us(card.valid_from)
    return _encoder.encode(
        _Card(
            card.number,
            raw,
            text,
            card.status_ref.list_id,
            card.status_ref.idx,
            _us(card.valid_until),
            valid_from,
        )
    )


def decode_card(data: bytes) -> CardRecord:
    if is_legacy(data):
        return _legacy_card.decode(data)
    c = _card_decoder.decode(data)
    return CardRecord(
        number=c.number,
        subject=_unpack_subject(c.subject, c.subject_text),
        status_ref=StatusRef(c.list_id, c.idx),
        valid_until=_at(c.valid_until),
        valid_from=None if c.valid_from is None else _at(c.valid_from),
    )


def encode_proof(proof: ProofRecord) -> bytes:
    raw, text = _pack_subject(proof.subject)
    return _encoder.encode(
        _Proof(
            proof.jti,
            proof.kid,
            raw,
            text,
            proof.type,
            proof.status_ref.list_id,
            proof.status_ref.idx,
            proof.name,
            proof.attributes or None,
            _us(proof.issued_at),
            _us(proof.expires_at),
        )
    )


def decode_proof(data: bytes) -> ProofRecord:
    if is_legacy(data):
        return _legacy_proof.decode(data)
    p = _proof_decoder.decode(data)
    return ProofRecord(
        jti=p.jti,
        kid=p.kid,
        subject=_unpack_subject(p.subject, p.subject_text),
        type=p.type,
        status_ref=StatusRef(p.list_id, p.idx),
        name=p.name,
        attributes=p.attributes or {},
        issued_at=_at(p.issued_at),
        expires_at=_at(p.expires_at),
    )
