"""`rfc3339`'s fast paths against the general formatting they skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.tokens import rfc3339


def reference(moment: datetime | int) -> str:
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def outcome(fn: Any, arg: Any) -> Any:
    try:
        return fn(arg)
    except (ValueError, OverflowError, OSError) as exc:
        return type(exc)


@given(st.integers(-(2**40), 2**40))
def test_epoch_seconds(moment: int) -> None:
    assert outcome(rfc3339, moment) == outcome(reference, moment)
    assert outcome(rfc3339, moment) == outcome(reference, moment)  # cached the same


@given(st.datetimes(timezones=st.just(UTC)))
def test_utc_datetimes(moment: datetime) -> None:
    assert rfc3339(moment) == reference(moment)


@given(
    st.datetimes(
        timezones=st.builds(timezone, st.integers(-1439, 1439).map(lambda m: timedelta(minutes=m)))
    )
)
def test_other_zones(moment: datetime) -> None:
    assert outcome(rfc3339, moment) == outcome(reference, moment)


@pytest.mark.parametrize(
    "moment",
    [
        0,
        253_402_300_799,
        253_402_300_800,
        True,
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 6, 1, 12, 0, 0, 999_999, tzinfo=UTC),
    ],
)
def test_edges(moment: datetime | int) -> None:
    assert outcome(rfc3339, moment) == outcome(reference, moment)
    assert rfc3339(1748779200) == "2025-06-01T12:00:00Z"
