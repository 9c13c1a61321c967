"""The one verification core behind the offline verifier, the online API and the CLI.

Three steps, each a pure function of its inputs (``now`` included):

* `check_token` — is this a genuine, well-formed, in-scope, in-time proof?
* `build_result` — given that and a status, what does the verifier see? The verdict
  is `verdict`'s (`app.tokens.proof`); this is the single place that decides which
  holder data is disclosed.
* `verify_offline` — the two above over cached keys and status lists, answering
  ``undetermined`` when the cache or the device clock cannot support an answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from app.tokens.errors import JoseError
from app.tokens.jose import decode_verified
from app.tokens.jwk import PublicKey
from app.tokens.proof import PROOF_TYP, verdict
from app.tokens.results import (
    LAST_EPOCH,
    EntitlementInfo,
    HolderInfo,
    KeySet,
    ProofClaims,
    SeenInfo,
    TokenCheck,
    VerificationResult,
    epoch,
    rfc3339,
)
from app.tokens.statuslist import StatusList, get_status
from app.tokens.types import Registry

__all__ = ["build_result", "check_token", "undetermined", "verify_offline"]

#: reasons for which the verifier may see who and what the proof is about: the token
#: is genuine and in scope. Never for forgeries, malformed or out-of-scope tokens.
_DISCLOSING_REASONS = frozenset({None, "revoked", "suspended", "expired"})
_JTI = re.compile(r"[A-Za-z0-9_-]{16,}")


class _StatusListRef(msgspec.Struct, frozen=True):
    idx: Annotated[int, msgspec.Meta(ge=0)]
    uri: str


class _StatusClaim(msgspec.Struct, frozen=True):
    status_list: _StatusListRef


#: times a result can show (`rfc3339`): a genuine token past them is malformed, not a crash
_Time = Annotated[int, msgspec.Meta(ge=0, le=LAST_EPOCH)]


class _Claims(msgspec.Struct, frozen=True):
    # Unknown claims are tolerated: wire formats add fields, never repurpose them.
    iss: str
    iat: _Time
    exp: _Time
    jti: str
    ent: str
    status: _StatusClaim
    nam: str | None = None


def _failed(reason: str, claims: ProofClaims | None = None) -> TokenCheck:
    return TokenCheck(claims=claims, failure=reason)


def check_token(
    token: str,
    keys: Mapping[str, PublicKey],
    *,
    now: datetime,
    skew_s: int,
    registry: Registry,
    allowed_types: Collection[str] | None,
    issuer: str | None = None,
) -> TokenCheck:
    """Verify a proof token's signature, claims, scope and time window.

    Args:
        token: the compact JWS.
        keys: trusted keys by kid.
        now: the verifier's time (aware).
        skew_s: clock leeway applied to ``iat`` only. ``exp`` has none: a result never
            says "valid" with a ``valid_until`` already past on the verifier's clock,
            and a parking card's proof ends when the card does, online and offline.
        registry: the entitlement types.
        allowed_types: types this verifier may check; None for all.
        issuer: when given, the required ``iss``.

    Returns:
        A `TokenCheck`. ``failure`` is None for a usable token; ``claims`` are kept for
        ``expired`` and ``not_yet_valid`` (the token is genuine) and dropped otherwise.
    """
    return _check_token(token, keys, epoch(now), skew_s, registry, allowed_types, issuer)


def _check_token(
    token: str,
    keys: Mapping[str, PublicKey],
    now_s: int,
    skew_s: int,
    registry: Registry,
    allowed_types: Collection[str] | None,
    issuer: str | None,
) -> TokenCheck:
    """`check_token` at epoch second `now_s` (`verify_offline` has it already)."""
    try:
        header, raw = decode_verified(token, keys, typ=PROOF_TYP)
    except JoseError as exc:
        return _failed(exc.reason)
    try:
        claims = msgspec.convert(raw, _Claims, strict=True)
    except msgspec.ValidationError:
        return _failed("malformed")
    kind = registry.find(claims.ent)
    if kind is None or not _JTI.fullmatch(claims.jti):
        return _failed("malformed")
    if issuer is not None and claims.iss != issuer:
        return _failed("malformed")
    # Scope before anything else about the holder: a verifier outside its scope learns
    # nothing, not even whether the proof is expired or revoked.
    if allowed_types is not None and claims.ent not in allowed_types:
        return _failed("not_permitted")
    attributes: dict[str, str] = {}
    for name in kind.claims:
        value: Any = raw.get(name)
        if not isinstance(value, str):
            return _failed("malformed")
        attributes[name] = value
    if claims.exp <= claims.iat:
        return _failed("malformed")
    proof = ProofClaims(
        jti=claims.jti,
        kid=header["kid"],
        type=claims.ent,
        name=claims.nam,
        iat=claims.iat,
        exp=claims.exp,
        list_uri=claims.status.status_list.uri,
        idx=claims.status.status_list.idx,
        attributes=attributes,
    )
    # A proof issued "in the future" is the issuer's clock running a little ahead of
    # ours: tolerated within `skew_s`. Its end is not stretched (see `skew_s` above).
    if now_s < claims.iat - skew_s:
        return _failed("not_yet_valid", proof)
    if now_s >= claims.exp:
        return _failed("expired", proof)
    return TokenCheck(claims=proof, failure=None)


def build_result(
    check: TokenCheck,
    *,
    status: int | None,
    now: datetime,
    registry: Registry,
    revocation_checked: str,
    lang: str = "en",
    seen: SeenInfo | None = None,
    verification_id: str | None = None,
    status_list_age_s: int | None = None,
) -> VerificationResult:
    """Decide the verdict and what the verifier is shown.

    Args:
        check: the outcome of `check_token`.
        status: the status-list value for the token (None: not checked).
        now: the verification time.
        registry: the entitlement types (labels, disclosure rules).
        revocation_checked: ``online``, ``status_list`` or ``none``.
        lang: label language.
        seen: how often this proof was seen (online only).
        verification_id: the audit id (online only).
        status_list_age_s: age of the list consulted (offline only).
    """
    result, reason = verdict(check, status)
    claims = check.claims if reason in _DISCLOSING_REASONS else None
    entitlement = holder = attributes = valid_until = None
    if claims is not None:
        kind = registry.get(claims.type)
        entitlement = EntitlementInfo(type=kind.id, label=kind.label(lang))
        if kind.discloses_name and claims.name:
            holder = HolderInfo(name=claims.name)
        attributes = dict(claims.attributes) or None
        valid_until = rfc3339(claims.exp)
    return VerificationResult(
        result=result,
        reason=reason,
        entitlement=entitlement,
        holder=holder,
        attributes=attributes,
        valid_until=valid_until,
        checked_at=rfc3339(now),
        revocation_checked=revocation_checked,
        status_list_age_s=status_list_age_s,
        seen=seen,
        verification_id=verification_id,
    )


def undetermined(
    reason: str, *, now: datetime, revocation_checked: str = "none"
) -> VerificationResult:
    """A verdict the verifier cannot give: no holder data, only the reason why."""
    return VerificationResult(
        result="undetermined",
        reason=reason,
        checked_at=rfc3339(now),
        revocation_checked=revocation_checked,
    )


#: No genuine Statuspass verification happens before this: a device clock showing an
#: earlier date has been reset (dead RTC battery, factory default) and proves nothing.
_EARLIEST_PLAUSIBLE = datetime(2025, 1, 1, tzinfo=UTC)


def verify_offline(
    token: str,
    *,
    jwks: KeySet,
    status_lists: Mapping[str, StatusList],
    now: datetime,
    registry: Registry,
    allowed_types: Collection[str] | None = None,
    skew_s: int = 60,
) -> VerificationResult:
    """Verify a proof from cached keys and status lists, without any I/O.

    Never a false "valid", and "undetermined" rather than a guess when the cache or the
    clock cannot support an answer:

    * ``check_clock``: the device clock is before 2025, before the time it fetched the
      keys, or behind a signed timestamp (status list ``iat``, or the proof's own
      ``iat``) by more than `skew_s`. Our issuer never post-dates a proof, so a
      genuine proof "from the future" means the two clocks disagree; offline we cannot
      tell which one is wrong, so we do not turn the holder away with
      ``not_yet_valid`` (that reason stays for the online path, whose clock is the
      issuer's own).
    * ``stale_keys``: the key set is older than its ``max_age_s`` and the proof is
      otherwise acceptable (a withdrawn key would go unnoticed), or the kid is unknown
      (the key may simply be newer than the cache). A signature that fails under a
      cached key stays ``bad_signature``: kids are key thumbprints, so a kid never
      names a different key.
    * ``stale_status_list``: no cached list for the proof's URI, the list is past its
      ``exp``, or the proof's index lies beyond it (the list has grown since).

    Forgeries, malformed and out-of-scope proofs are ``invalid`` whatever the cache age,
    and so is an expired proof: expiry only needs a clock that is not behind. `skew_s`
    (configurable, 60 s by default) tolerates clocks that disagree about when a proof,
    a key set or a list was made; it never extends a proof past its ``exp``, as
    online.
    """
    now_s, fetched_s = epoch(now), epoch(jwks.fetched_at)
    if now < _EARLIEST_PLAUSIBLE or now_s < fetched_s - skew_s:
        return undetermined("check_clock", now=now)
    keys_stale = now_s - fetched_s > jwks.max_age_s
    check = _check_token(token, jwks.keys, now_s, skew_s, registry, allowed_types, None)
    failure, claims = check.failure, check.claims
    if failure == "unknown_key" and keys_stale:
        return undetermined("stale_keys", now=now)
    if failure == "not_yet_valid":
        return undetermined("check_clock", now=now)
    if failure is not None or claims is None:
        return build_result(
            check, status=None, now=now, registry=registry, revocation_checked="none"
        )
    if keys_stale:
        return undetermined("stale_keys", now=now)
    status_list = status_lists.get(claims.list_uri)
    if status_list is None:
        return undetermined("stale_status_list", now=now)
    if now_s < status_list.iat - skew_s:
        return undetermined("check_clock", now=now)
    if now_s > status_list.exp:
        return undetermined("stale_status_list", now=now)
    try:
        status = get_status(status_list.packed, claims.idx)
    except IndexError:
        return undetermined("stale_status_list", now=now)
    return build_result(
        check,
        status=status,
        now=now,
        registry=registry,
        revocation_checked="status_list",
        status_list_age_s=max(0, now_s - status_list.iat),
    )
