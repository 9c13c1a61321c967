"""The compact stored form of entitlements, cards and proofs (`app.storage._lean`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.records import CardRecord, Entitlement, Holder, ProofRecord, StatusRef
from app.storage._lean import (
    decode_card,
    decode_entitlement,
    decode_held_entitlement,
    decode_proof,
    encode_card,
    encode_entitlement,
    encode_held_entitlement,
    encode_proof,
    held_version,
    is_legacy,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
HMAC = "9f2c1a0b5e6d7f80" * 4


def _ent(subject: str = HMAC, attributes: dict[str, str] | None = None) -> Entitlement:
    return Entitlement(
        type="social_tariff",
        subject=subject,
        holder=Holder(given_name="Jan", family_name="Peeters"),
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
        attributes=attributes or {},
        status=2,
        status_ref=StatusRef("17", 1_048_575),
        reason="suspended by source",
        version=3,
        updated_at=T0,
        updated_by="c0ffee00c0ffee00",
    )


def _card(valid_from: datetime | None) -> CardRecord:
    return CardRecord(
        number="1234567801",
        subject=HMAC,
        status_ref=StatusRef("3", 5),
        valid_until=T0 + timedelta(days=900),
        valid_from=valid_from,
    )


def _proof(name: str | None = "J. PEETERS") -> ProofRecord:
    return ProofRecord(
        jti="x" * 22,
        kid="k-2026",
        subject=HMAC,
        type="parking_card",
        status_ref=StatusRef("3", 5),
        name=name,
        attributes={"card_number": "1234567801"},
        issued_at=T0,
        expires_at=T0 + timedelta(minutes=5),
    )


@pytest.mark.parametrize("subject", [HMAC, "subj-a", "A" * 64, ""])
@pytest.mark.parametrize("attributes", [None, {"card_number": "1234567800"}])
def test_entitlement_round_trip(subject: str, attributes: dict[str, str] | None) -> None:
    ent = _ent(subject, attributes)
    assert decode_entitlement(encode_entitlement(ent)) == ent


@pytest.mark.parametrize("valid_from", [None, T0])
def test_card_round_trip(valid_from: datetime | None) -> None:
    assert decode_card(encode_card(_card(valid_from))) == _card(valid_from)


@pytest.mark.parametrize("name", [None, "J. PEETERS"])
def test_proof_round_trip(name: str | None) -> None:
    assert decode_proof(encode_proof(_proof(name))) == _proof(name)


def test_records_of_older_releases_still_read() -> None:
    """What a store wrote before the compact form (JSON objects) reads as it was."""
    for record, decode in (
        (_ent(), decode_entitlement),
        (_card(T0), decode_card),
        (_proof(), decode_proof),
    ):
        old = msgspec.json.encode(record)
        assert is_legacy(old)
        assert decode(old) == record


def test_compact_form_is_a_fraction_of_json() -> None:
    """An entitlement as stored (a suspended one, with its reason): a third of its JSON
    or less, and neither field names nor the subject's hex digits."""
    ent = _ent()
    lean, old = encode_entitlement(ent), msgspec.json.encode(ent)
    assert not is_legacy(lean)
    assert len(lean) * 3 <= len(old) and len(lean) <= 140
    assert b"valid_until" not in lean and HMAC.encode() not in lean
    assert len(encode_proof(_proof())) < len(msgspec.json.encode(_proof())) / 2
    assert len(encode_card(_card(T0))) < len(msgspec.json.encode(_card(T0))) / 2


def test_an_end_past_the_last_utc_datetime_reads_as_that() -> None:
    """An end stored before dates were checked at input, 9999-12-31 at -05:00 (past
    9999-12-31 in UTC), reads as the last UTC datetime instead of failing."""
    end = datetime(9999, 12, 31, 23, 59, 59, 999999).replace(
        tzinfo=datetime.fromisoformat("2000-01-01T00:00:00-05:00").tzinfo
    )
    card = msgspec.structs.replace(_card(None), valid_until=end)
    assert decode_card(encode_card(card)).valid_until == datetime.max.replace(tzinfo=UTC)


_WHOLE = datetime(2026, 1, 1, tzinfo=UTC)
_EDGES = [
    (_WHOLE, datetime(2030, 1, 1, tzinfo=UTC), T0, "c_0123456789abcdef"),
    (
        datetime(1950, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        "operator",
    ),
    (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        "c_0000000000000000",
    ),
]


@pytest.mark.parametrize(("valid_from", "valid_until", "updated_at", "by"), _EDGES)
def test_held_entitlement_round_trip(
    valid_from: datetime, valid_until: datetime, updated_at: datetime, by: str
) -> None:
    """The Redis form (subject and type in the field's name): times in whole seconds or
    not, before the epoch and at its ends, client ids of either form."""
    ent = msgspec.structs.replace(
        _ent(),
        valid_from=valid_from,
        valid_until=valid_until,
        updated_at=updated_at,
        updated_by=by,
        version=41,
    )
    value = encode_held_entitlement(ent)
    assert held_version(value) == 41
    assert decode_held_entitlement(ent.type, ent.subject, value) == ent
    # and back to the same bytes: a Redis save compares a worker's hint, encoded again,
    # with the stored value byte for byte (`EntitlementHints.stored_form`)
    assert encode_held_entitlement(decode_held_entitlement(ent.type, ent.subject, value)) == value


_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
_text = st.text(max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    given_name=_text,
    family_name=_text,
    valid_from=_times,
    valid_until=_times,
    updated_at=_times,
    attributes=st.dictionaries(_text, _text, max_size=3),
    status=st.integers(0, 3),
    reason=st.none() | _text,
    version=st.integers(1, 2**40),
    by=st.from_regex(r"c_[0-9a-f]{16}", fullmatch=True) | _text,
)
def test_a_stored_entitlement_read_and_written_again_is_the_same_bytes(
    given_name: str,
    family_name: str,
    valid_from: datetime,
    valid_until: datetime,
    updated_at: datetime,
    attributes: dict[str, str],
    status: int,
    reason: str | None,
    version: int,
    by: str,
) -> None:
    """Whatever a source sent: otherwise every first issuance at a Redis worker would be
    refused once (a stale basis) and cost a round trip more."""
    ent = msgspec.structs.replace(
        _ent(),
        holder=Holder(given_name=given_name, family_name=family_name),
        valid_from=valid_from,
        valid_until=valid_until,
        updated_at=updated_at,
        attributes=attributes,
        status=status,
        reason=reason,
        version=version,
        updated_by=by,
    )
    value = encode_held_entitlement(ent)
    read = decode_held_entitlement(ent.type, ent.subject, value)
    assert read == ent
    assert encode_held_entitlement(read) == value


def test_held_entitlement_is_leaner() -> None:
    ent = msgspec.structs.replace(_ent(), valid_from=_WHOLE, updated_by="c_0123456789abcdef")
    assert len(encode_held_entitlement(ent)) <= len(encode_entitlement(ent)) - 50
