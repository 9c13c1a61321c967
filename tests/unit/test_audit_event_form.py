"""The compact stored form of audit events, and the long form of earlier releases."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from app.domain.audit_format import NotCanonical, decode_event_strict
from app.domain.records import AuditEvent, decode_event, encode_event, encode_event_legacy

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


@pytest.mark.parametrize("event", [CHECK, GRANT])
def test_both_forms_read_back_strictly(event: AuditEvent) -> None:
    assert decode_event_strict(encode_event(event)) == event
    assert decode_event_strict(encode_event_legacy(event)) == event
    assert decode_event(encode_event(event)) == (event, True)


def test_compact_form_is_smaller_and_one_line() -> None:
    """A grant takes ~60% of its long form, a check ~80%: keys of one letter, nothing
    for a default or a null; still one JSON line (segments and chain records split on
    newlines)."""
    for event, share in ((GRANT, 0.62), (CHECK, 0.83)):
        data = encode_event(event)
        assert len(data) <= share * len(encode_event_legacy(event)), data
        assert b"\n" not in data and msgspec.json.decode(data)["at"]
    assert b"null" not in encode_event(GRANT)


@pytest.mark.parametrize(
    "forged",
    [
        # a second "result" under the long name, which another JSON reader could take
        encode_event(CHECK)[:-1] + b',"result":"FORGED"}',
        encode_event(CHECK)[:-1] + b',"r":"FORGED"}',
        # a long-form key in a compact record
        encode_event(GRANT)[:-1] + b',"subject":"someone-else"}',
        # the default written out
        encode_event(GRANT)[:-1] + b',"r":"ok"}',
        encode_event(CHECK) + b" ",
        encode_event_legacy(CHECK)[:-1] + b',"result":"FORGED"}',
    ],
)
def test_non_canonical_bytes_are_refused_in_either_form(forged: bytes) -> None:
    with pytest.raises(NotCanonical):
        decode_event_strict(forged)
