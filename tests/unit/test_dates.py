"""Dates as sources send them: one form, one range, and nothing accepted that a later step
(a proof's `exp`, a result's `valid_until`, a card's last day) cannot handle."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.dates import (
    EARLIEST,
    LATEST,
    check_instant,
    epoch_floor,
    last_day,
    parse_date,
    parse_instant,
)
from app.errors import InvalidInput
from app.tokens import LAST_EPOCH, rfc3339

#: every offset RFC 3339 can write, to the minute
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
any_instant = st.datetimes(timezones=offsets)
accepted = any_instant.filter(lambda d: EARLIEST <= d < LATEST)
refused = any_instant.filter(lambda d: not EARLIEST <= d < LATEST)


def rfc3339_text(moment: datetime) -> str:
    return moment.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM for aware datetimes


@given(accepted)
def test_every_accepted_instant_round_trips_and_feeds_every_later_step(moment: datetime) -> None:
    parsed = parse_instant(rfc3339_text(moment), "valid_until")
    assert parsed == moment and parsed.utcoffset() == moment.utcoffset()
    end = epoch_floor(parsed)
    # exact: never a second later than the instant (a proof never outlives its right)
    assert datetime.fromtimestamp(end, UTC) <= parsed < datetime.fromtimestamp(end + 1, UTC)
    assert rfc3339(end)  # a result can show it
    assert EARLIEST.date() - timedelta(days=1) <= last_day(parsed) <= LATEST.date()


@given(refused)
def test_every_instant_out_of_range_is_invalid_input(moment: datetime) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_instant(rfc3339_text(moment), "valid_until")
    assert err.value.field == "valid_until"


@given(st.text(max_size=40))
def test_any_text_is_an_instant_or_invalid_input_never_a_crash(text: str) -> None:
    try:
        value = parse_instant(text, "valid_from")
    except InvalidInput:
        return
    assert value.tzinfo is not None and EARLIEST <= value < LATEST


@given(
    st.from_regex(
        r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})?\Z"
    )
)
def test_near_misses_are_an_instant_or_invalid_input_never_a_crash(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_instant(text, "valid_from")


@given(st.dates())
def test_dates_are_accepted_exactly_in_range(day: date) -> None:
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    if EARLIEST.date() <= day < LATEST.date():
        assert parse_date(text, "attributes.card_valid_until") == day
    else:
        with pytest.raises(InvalidInput):
            parse_date(text, "attributes.card_valid_until")


@given(st.text(max_size=20))
def test_any_text_is_a_date_or_invalid_input_never_a_crash(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_date(text, "d")


@pytest.mark.parametrize(
    "text",
    [
        "2027-W52-5",  # ISO week date
        "2027-W52",
        "2027-365",  # ordinal date
        "20271231",  # basic format
        "2027-12-31T00:00:00Z",
        "2027-1-31",
        "2027-12-\uff13\uff11",  # non-ASCII (full-width) digits
        " 2027-12-31",
        "2027-02-29",
        "9999-12-31",
        "0001-01-01",
    ],
)
def test_only_calendar_dates_in_range(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_date(text, "d")


@pytest.mark.parametrize(
    "text",
    [
        "2027-12-31T23:59:59",  # no offset
        "2027-12-31T23:59:59+0100",  # basic-format offset
        "2027-12-31T23:59:59+01",
        "2027-12-31 23:59:59Z",
        "2027-12-31T23:59Z",  # no seconds
        "20271231T235959Z",
        "2027-W52-5T23:59:59Z",
        "2027-365T23:59:59Z",
        "2027-12-31T23:59:60Z",  # leap second
        "2027-12-31T24:00:00Z",
        "2027-12-31T23:59:59+24:00",
        "2027-12-31",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_only_rfc3339_with_an_offset_in_range(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_instant(text, "t")


def test_lower_case_t_and_z_are_rfc3339_too() -> None:
    assert parse_instant("2027-12-31t23:59:59z", "t") == datetime(
        2027, 12, 31, 23, 59, 59, tzinfo=UTC
    )


def test_naive_datetimes_from_code_are_refused() -> None:
    with pytest.raises(InvalidInput, match="offset"):
        check_instant(datetime(2027, 12, 31), "valid_until")


@pytest.mark.parametrize(
    ("until", "day"),
    [
        ("2028-01-01T00:00:00+01:00", "2027-12-31"),  # exclusive end at midnight
        ("2027-12-31T23:59:59+01:00", "2027-12-31"),
        ("2027-12-31T23:30:00-05:00", "2027-12-31"),  # the source's day, not UTC's
        ("2027-12-31T00:00:00.000001Z", "2027-12-31"),
    ],
)
def test_last_day_is_the_last_day_covered_in_the_sources_offset(until: str, day: str) -> None:
    assert last_day(parse_instant(until, "valid_until")).isoformat() == day


def test_epoch_floor_does_not_round_up_like_a_float() -> None:
    """The reported 500: the end of 9999-12-31 became epoch 253402300800 (year 10000)."""
    end = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert int(end.timestamp()) == LAST_EPOCH + 1  # the float rounds up into year 10000
    assert epoch_floor(end) == LAST_EPOCH
    assert rfc3339(epoch_floor(end)) == "9999-12-31T23:59:59Z"
