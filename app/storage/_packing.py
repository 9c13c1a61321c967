"""How the compact stored records (`app.storage._lean`) pack their values: instants as
integer microseconds since the epoch (or whole seconds where they are), a hex subject as
its 32 raw bytes, a client id as a number."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

__all__ = [
    "client_id",
    "client_number",
    "from_micros",
    "from_seconds_or_micros",
    "micros",
    "pack_subject",
    "seconds_or_micros",
    "unpack_subject",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEX64 = re.compile(r"[0-9a-f]{64}")


_ONE_US = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_US


_LAST = datetime.max.replace(tzinfo=UTC)
_LAST_US = (_LAST - _EPOCH) // _ONE_US


def from_micros(us: int) -> datetime:
    # an end written with an offset before dates were checked at input (9999-12-31 at
    # -05:00) lies past the last UTC datetime: it reads as that last one, a few hours
    # earlier in the year 9999, rather than making the record unreadable.
    # (`_ONE_US * us`, not `timedelta(microseconds=us)`: the same exact value without
    # the keyword parsing, 0.25 against 0.45 µs, three times per record read)
    return _LAST if us > _LAST_US else _EPOCH + _ONE_US * us


def pack_subject(subject: str) -> tuple[bytes | None, str | None]:
    """(raw HMAC, None) for a hex HMAC, the usual case; (None, text) for anything else."""
    if _HEX64.fullmatch(subject):
        return bytes.fromhex(subject), None
    return None, subject


def unpack_subject(raw: bytes | None, text: str | None) -> str:
    return raw.hex() if raw is not None else (text or "")


_CLIENT_ID = re.compile(r"c_[0-9a-f]{16}")
_S = 1_000_000


@functools.lru_cache(maxsize=1024)
def client_number(client_id: str) -> int | str:
    """A client id as stored in `_lean._Held` (few clients write: cached)."""
    return int(client_id[2:], 16) if _CLIENT_ID.fullmatch(client_id) else client_id


@functools.lru_cache(maxsize=1024)
def client_id(number: int) -> str:
    return f"c_{number:016x}"


def seconds_or_micros(at: datetime) -> int:
    """Twice the seconds since the epoch for a time in whole seconds (dates of validity
    mostly are: 5 bytes of MessagePack until 2038, not 9), else twice the microseconds
    plus one."""
    us = micros(at)
    return us // _S * 2 if us % _S == 0 else us * 2 + 1


_ONE_S = timedelta(seconds=1)
_LAST_S = _LAST_US // _S


def from_seconds_or_micros(value: int) -> datetime:
    return from_micros(value >> 1) if value & 1 else _from_seconds(value >> 1)


@functools.lru_cache(maxsize=4096)
def _from_seconds(seconds: int) -> datetime:
    """A time in whole seconds: the bounds of validity, which many holders share (the
    end of a year, a grant's first day), read with every entitlement: remembered
    (datetimes are immutable). Times in µs (when a record was written) are all
    different and are not."""
    return _LAST if seconds > _LAST_S else _EPOCH + _ONE_S * seconds
