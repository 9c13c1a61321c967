"""The stored form of audit events (a MessagePack array) and the JSON of earlier releases."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from app.audit.format import NotCanonical, decode_event_strict
from app.domain.events import (
    decode_event,
    encode_event,
    encode_event_legacy,
    event_time_us,
    is_legacy_event,
)
from app.domain.records import AuditEvent

CHECK = AuditEvent(
    at=datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC),
    actor="c0ffee00c0ffee00",
    action="verify",
    type="social_tariff",
    jti="Zm9vYmFyYmF6cXV4cXV1eA",
    result="valid",
    subject="9f2c1a0b5e6d7f80" * 4,
    org="Stedelijk Museum Gent",
    verification_id="dmVyaWZpY2F0aW9u",
)
GRANT = AuditEvent(
    at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    actor="src-1",
    action="grant",
    type="social_tariff",
    subject="9f2c1a0b5e6d7f80" * 4,
)
OTHER = AuditEvent(at=datetime(2026, 12, 7, tzinfo=UTC), actor="operator", action="key_rotate")
TEXT_SUBJECT = AuditEvent(
    at=datetime(2026, 12, 7, tzinfo=UTC), actor="x", action="verify", subject="subj-a"
)
_pack = msgspec.msgpack.encode


@pytest.mark.parametrize("event", [CHECK, GRANT, OTHER, TEXT_SUBJECT])
def test_both_forms_read_back_strictly(event: AuditEvent) -> None:
    packed, old = encode_event(event), encode_event_legacy(event)
    assert not is_legacy_event(packed) and is_legacy_event(old)
    assert decode_event_strict(packed) == event == decode_event(packed)
    assert decode_event_strict(old) == event
    assert event_time_us(packed) == event_time_us(old) == int(event.at.timestamp() * 1e6)


def test_stored_form_is_about_half_of_json() -> None:
    """A check takes ~150 bytes instead of 310: no names, the time as an integer, the
    pseudonym raw, one byte for an empty field."""
    for event in (CHECK, GRANT):
        assert len(encode_event(event)) <= 0.55 * len(encode_event_legacy(event))
    assert len(encode_event(CHECK)) <= 160
    assert len(encode_event(GRANT)) <= 80


def _fields(event: AuditEvent) -> list[object]:
    return msgspec.msgpack.decode(encode_event(event))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "forged",
    [
        # a JSON key appended (what a forger would try on the earlier form)
        encode_event(CHECK)[:-1] + b',"result":"FORGED"}',
        # an element more than the form has
        _pack([*_fields(CHECK), "FORGED"]),
        # a second subject, in text, beside the raw one
        _pack([*_fields(GRANT), "someone-else"]),
        # a hex pseudonym written as text instead of raw
        _pack([*_fields(GRANT)[:7], None, GRANT.subject]),
        # an empty element more than the form has
        _pack([*_fields(GRANT), None]),
        # the time as a float, another encoding of the same value
        _pack([float(_fields(GRANT)[0]), *_fields(GRANT)[1:]]),  # type: ignore[arg-type]
        encode_event(CHECK) + b"\x00",
        # the earlier JSON form with a duplicate key
        encode_event_legacy(CHECK)[:-1] + b',"result":"FORGED"}',
    ],
)
def test_non_canonical_bytes_are_refused_in_either_form(forged: bytes) -> None:
    with pytest.raises(NotCanonical, match="not in canonical form"):
        decode_event_strict(forged)
