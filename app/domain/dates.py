"""Dates and times as authentic sources send them: one canonical form, one range.

Every date a source sends is checked here, at input, so nothing later (issuance, a card
check, formatting a result, the audit) meets a value it cannot handle:

* a date is an ISO 8601 calendar date, ``YYYY-MM-DD``; week dates (``2027-W52-5``),
  ordinal dates and the basic format (``20271231``) are refused, since they would travel
  into tokens as typed;
* a time is RFC 3339 with an explicit offset: ``2027-12-31T23:59:59+01:00`` or ``…Z``;
* both lie between 1900-01-01 and 2999-12-31 (UTC for times). Years 1 and 9999 are the
  edges of Python's calendar: an offset there overflows at the first conversion.

An entitlement's ``valid_until`` is exclusive: the right ends at that instant. The last
day it covers (`last_day`) is what a parking card prints as "valid until".
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta

from app.errors import InvalidInput

__all__ = [
    "EARLIEST",
    "LATEST",
    "check_instant",
    "epoch_floor",
    "last_day",
    "parse_date",
    "parse_instant",
    "to_us",
]

#: the first instant, and the first instant past the end, that a source may send
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
_RANGE = "between 1900-01-01 and 2999-12-31"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# RFC 3339 `date-time`: "T" and "Z" may be lower case (section 5.6); the offset is
# mandatory, and a leap second (:60) is refused rather than silently moved.
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_date(text: str, field: str) -> date:
    """A calendar date ``YYYY-MM-DD`` within the accepted range.

    Raises:
        InvalidInput: any other form, an impossible date or one out of range.
    """
    value: date | None = None
    if _DATE.fullmatch(text):
        try:
            value = date.fromisoformat(text)
        except ValueError:
            value = None
    if value is None:
        raise InvalidInput(f"{field} must be a date written YYYY-MM-DD", field=field)
    if not EARLIEST.date() <= value < LATEST.date():
        raise InvalidInput(f"{field} must lie {_RANGE}", field=field)
    return value


@functools.lru_cache(maxsize=1024)
def parse_instant(text: str, field: str) -> datetime:
    """An RFC 3339 date-time with an offset, within the accepted range.

    The offset is kept as sent (it says which calendar day the source meant). Remembered
    per text: the lines of a batch mostly share a few dates (datetimes are immutable).

    Raises:
        InvalidInput: another form, an impossible time or one out of range.
    """
    value: datetime | None = None
    if _INSTANT.fullmatch(text):
        try:
            # fromisoformat keeps microseconds (a longer fraction is truncated)
            value = datetime.fromisoformat(text.upper())
        except ValueError:
            value = None
    if value is None:
        raise InvalidInput(
            f"{field} must be an RFC 3339 date-time with an offset, e.g. 2027-12-31T23:59:59+01:00",
            field=field,
        )
    return check_instant(value, field)


def check_instant(value: datetime, field: str) -> datetime:
    """`value` itself, once it is known to be aware and within the accepted range.

    Raises:
        InvalidInput: a naive time (it would mean the server's local time) or out of range.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} needs a time zone offset (RFC 3339)", field=field)
    # aware comparisons subtract offsets without converting, so they never overflow
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(f"{field} must lie {_RANGE} (UTC)", field=field)
    return value


def last_day(valid_until: datetime) -> date:
    """The last calendar day an exclusive end covers, in the offset it was sent with.

    ``2028-01-01T00:00:00+01:00`` and ``2027-12-31T23:59:59+01:00`` both end a card
    that is valid until 2027-12-31.
    """
    return (valid_until - timedelta(microseconds=1)).date()


def epoch_floor(moment: datetime) -> int:
    """Whole epoch seconds, rounded down, computed exactly.

    ``int(moment.timestamp())`` goes through a float, which for far dates rounds
    23:59:59.999999 up to the next second (the end of 9999-12-31 became year 10000): an
    end would move past the instant it stands for.
    """
    return (moment - _EPOCH) // _SECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch: exact (no float rounding) and ordered like instants.

    Args:
        at: a timezone-aware datetime.

    Raises:
        ValueError: on a naive datetime, which would silently mean local time.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime: stores and archives take timezone-aware times only")
    return (at - _EPOCH) // _MICROSECOND
