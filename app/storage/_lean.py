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

from collections.abc import Callable
from datetime import datetime

import msgspec

from app.domain.records import CardRecord, Entitlement, Holder, ProofRecord, StatusRef
from app.storage._packing import (
    client_id,
    client_number,
    from_micros,
    from_seconds_or_micros,
    micros,
    pack_subject,
    seconds_or_micros,
    unpack_subject,
)

__all__ = [
    "decode_card",
    "decode_entitlement",
    "decode_held_entitlement",
    "decode_proof",
    "encode_card",
    "encode_entitlement",
    "encode_held_entitlement",
    "encode_proof",
    "encode_proof_at",
    "held_version",
    "is_legacy",
]

#: the values `_body` gives, in the order of the entitlement structs' fields
_Body = tuple[str, str, int, int, dict[str, str] | None, int, str, int, str | None]


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


def _body(ent: Entitlement, time: Callable[[datetime], int]) -> _Body:
    """The fields both stored forms of an entitlement have, from `given_name` to
    `reason` in this order (times written by `time`)."""
    ref = ent.status_ref
    return (
        *(ent.holder.given_name, ent.holder.family_name, time(ent.valid_from)),
        *(time(ent.valid_until), ent.attributes or None, ent.status, ref.list_id, ref.idx),
        ent.reason,
    )


def _entitlement(
    e: _Ent | _Held,
    type_id: str,
    subject: str,
    version: int,
    at: Callable[[int], datetime],
    updated_by: str,
) -> Entitlement:
    """The entitlement stored as `e` (times read by `at`)."""
    return Entitlement(
        type=type_id,
        subject=subject,
        holder=Holder(e.given_name, e.family_name),
        valid_from=at(e.valid_from),
        valid_until=at(e.valid_until),
        attributes=e.attributes or {},
        status=e.status,
        status_ref=StatusRef(e.list_id, e.idx),
        reason=e.reason,
        version=version,
        updated_at=at(e.updated_at),
        updated_by=updated_by,
    )


def encode_entitlement(ent: Entitlement) -> bytes:
    raw, text = pack_subject(ent.subject)
    body = _body(ent, micros)
    return _encoder.encode(
        _Ent(ent.type, raw, text, *body, ent.version, micros(ent.updated_at), ent.updated_by)
    )


def decode_entitlement(data: bytes) -> Entitlement:
    if is_legacy(data):
        return _legacy_ent.decode(data)
    e = _ent_decoder.decode(data)
    subject = unpack_subject(e.subject, e.subject_text)
    return _entitlement(e, e.type, subject, e.version, from_micros, e.updated_by)


def encode_held_entitlement(ent: Entitlement) -> bytes:
    """`b"<version> "` and the record without subject, type and version."""
    when = seconds_or_micros
    held = _Held(*_body(ent, when), when(ent.updated_at), client_number(ent.updated_by))
    return b"%d " % ent.version + _encoder.encode(held)


def held_version(data: bytes) -> int:
    """The version of a value written by `encode_held_entitlement`."""
    return int(data[: data.index(b" ")])


def decode_held_entitlement(type_id: str, subject: str, data: bytes) -> Entitlement:
    cut = data.index(b" ")
    e = _held_decoder.decode(data[cut + 1 :])
    by = client_id(e.updated_by) if isinstance(e.updated_by, int) else e.updated_by
    return _entitlement(e, type_id, subject, int(data[:cut]), from_seconds_or_micros, by)


def encode_card(card: CardRecord) -> bytes:
    raw, text = pack_subject(card.subject)
    valid_from = None if card.valid_from is None else micros(card.valid_from)
    return _encoder.encode(
        _Card(
            card.number,
            raw,
            text,
            card.status_ref.list_id,
            card.status_ref.idx,
            micros(card.valid_until),
            valid_from,
        )
    )


def decode_card(data: bytes) -> CardRecord:
    if is_legacy(data):
        return _legacy_card.decode(data)
    c = _card_decoder.decode(data)
    return CardRecord(
        number=c.number,
        subject=unpack_subject(c.subject, c.subject_text),
        status_ref=StatusRef(c.list_id, c.idx),
        valid_until=from_micros(c.valid_until),
        valid_from=None if c.valid_from is None else from_micros(c.valid_from),
    )


def encode_proof(proof: ProofRecord) -> bytes:
    return encode_proof_at(proof, micros(proof.issued_at), micros(proof.expires_at))


def encode_proof_at(proof: ProofRecord, issued_us: int, expires_us: int) -> bytes:
    """`encode_proof` for a writer that has the proof's times in µs already (`micros`
    of `issued_at` and `expires_at`): issuance needs them for the store anyway."""
    raw, text = pack_subject(proof.subject)
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
            issued_us,
            expires_us,
        )
    )


def decode_proof(data: bytes) -> ProofRecord:
    if is_legacy(data):
        return _legacy_proof.decode(data)
    p = _proof_decoder.decode(data)
    return ProofRecord(
        jti=p.jti,
        kid=p.kid,
        subject=unpack_subject(p.subject, p.subject_text),
        type=p.type,
        status_ref=StatusRef(p.list_id, p.idx),
        name=p.name,
        attributes=p.attributes or {},
        issued_at=from_micros(p.issued_at),
        expires_at=from_micros(p.expires_at),
    )
