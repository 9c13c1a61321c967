"""The values verification produces: claims of a genuine proof, results, key sets.

Wire shapes: add fields, never repurpose them. `VerificationResult` is what every
verifier (online API, offline verifier, CLI) shows, field for field.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec

from app.tokens.jwk import PublicKey

__all__ = [
    "LAST_EPOCH",
    "EntitlementInfo",
    "HolderInfo",
    "KeySet",
    "ProofClaims",
    "SeenInfo",
    "TokenCheck",
    "VerificationResult",
    "epoch",
    "rfc3339",
]


class EntitlementInfo(msgspec.Struct, frozen=True):
    type: str
    label: str


class HolderInfo(msgspec.Struct, frozen=True):
    name: str


class SeenInfo(msgspec.Struct, frozen=True):
    count: int
    organisations: int


class VerificationResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a verifier is told. Same shape online, offline and in the CLI."""

    result: str
    reason: str | None
    entitlement: EntitlementInfo | None = None
    holder: HolderInfo | None = None
    attributes: dict[str, str] | None = None
    valid_until: str | None = None
    checked_at: str
    revocation_checked: str
    status_list_age_s: int | None = None
    seen: SeenInfo | None = None
    verification_id: str | None = None


class ProofClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The claims of a genuine proof, validated against the registry."""

    jti: str
    kid: str
    type: str
    name: str | None
    iat: int
    exp: int
    list_uri: str
    idx: int
    attributes: dict[str, str]


class TokenCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of `check_token`: claims of a genuine token and/or a failure reason."""

    claims: ProofClaims | None
    failure: str | None


class KeySet(msgspec.Struct, frozen=True):
    """Verification keys as cached by an offline verifier, with when they were fetched.

    `fetched_at` is the device's own clock at fetch time; `max_age_s` is how long the
    cache may be trusted (keys can be withdrawn, and a new key can appear).
    """

    keys: dict[str, PublicKey]
    fetched_at: datetime
    max_age_s: int


_RFC3339 = "%04d-%02d-%02dT%02d:%02d:%02dZ"
#: epoch seconds formatted by `time.gmtime` exactly as by `datetime` (years 1970-9999)
_GMTIME_END = 253_402_300_800
#: the last epoch second `rfc3339` can write (9999-12-31T23:59:59Z)
LAST_EPOCH = _GMTIME_END - 1
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_FORMATTED: dict[int, str] = {}  # recent epoch seconds; cleared when it grows
_FORMATTED_MAX = 4096


def _rfc3339_reference(moment: datetime | int) -> str:
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(moment: datetime | int) -> str:
    """Format a time (aware datetime or epoch seconds) as ``2025-01-31T14:05:00Z``.

    Twice per verification result, so the common cases skip `strftime`: epoch seconds
    of 1970-9999 go through `time.gmtime`, remembered per second, and so does a UTC
    datetime from 1970 on (its whole seconds since the epoch, counted exactly by
    `timedelta` arithmetic); one from year 1000 to 1969 (``%Y`` is unpadded below it)
    is formatted from its fields. Anything else (other zones, naive datetimes, far
    dates) takes the general path.
    """
    if isinstance(moment, datetime):
        if moment.tzinfo is not UTC:
            return _rfc3339_reference(moment)
        if moment < _UNIX_EPOCH:
            if moment.year < 1000:
                return _rfc3339_reference(moment)
            return _RFC3339 % (
                moment.year,
                moment.month,
                moment.day,
                moment.hour,
                moment.minute,
                moment.second,
            )
        moment = (moment - _UNIX_EPOCH) // _ONE_SECOND
    if type(moment) is int and 0 <= moment < _GMTIME_END:
        text = _FORMATTED.get(moment)
        if text is None:
            if len(_FORMATTED) >= _FORMATTED_MAX:
                _FORMATTED.clear()
            text = _FORMATTED[moment] = _RFC3339 % time.gmtime(moment)[:6]
        return text
    return _rfc3339_reference(moment)


def epoch(now: datetime) -> int:
    """Whole epoch seconds of an aware datetime (naive ones are refused, not guessed)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())
