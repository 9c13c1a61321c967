"""Issuance: a citizen's current right becomes a short-lived signed proof, its QR code and
a 12-digit numeric code.

The token carries the type, validity, a status-list pointer, the type's attributes and,
where the type discloses it, a display name — nothing more (no NRN, no reason, no source).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from app.config import Settings
from app.domain.dates import epoch_floor
from app.domain.ids import random_below, random_urlsafe
from app.domain.names import display_name
from app.domain.ports import Store
from app.domain.records import VALID, AuditEvent, Entitlement, ProofRecord
from app.domain.registry import EntitlementType, Registry
from app.domain.validity import proof_attributes
from app.errors import (
    Conflict,
    DomainError,
    EntitlementMoved,
    InvalidInput,
    NotFound,
    StoreError,
)
from app.tokens import SigningKey, code_digest, encode_proof, format_code, new_code, render_qr

__all__ = ["IssuedProof", "ProofService", "citizen_actor"]

QR_FORMATS = frozenset({"svg", "png"})
#: saves tried when the entitlement keeps changing under the issuance (each attempt after
#: the first uses the entitlement the refused save read)
_ATTEMPTS = 3


class IssuedProof(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    jti: str
    code: str | None
    expires_at: datetime
    qr_version: int
    qr_svg: str | None
    qr_png: bytes | None


def citizen_actor(subject: str) -> str:
    """How the audit names a citizen: a short prefix of their pseudonym, never the NRN."""
    return f"citizen:{subject[:16]}"


class ProofService:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        settings: Settings,
        signing_key: Callable[[], SigningKey],
        code_key: bytes,
    ) -> None:
        self._store = store
        self._registry = registry
        self._settings = settings
        self._signing_key = signing_key
        self._code_key = code_key  # the store gets a code's keyed digest, never its digits
        self._list_base = settings.status_list_base  # settings are frozen: built once

    async def issue(
        self,
        subject: str,
        type_id: str,
        *,
        lifetime_s: int | None,
        qr: Sequence[str],
        now: datetime,
    ) -> IssuedProof:
        """Issue a proof of the citizen's own, currently valid right of `type_id`."""
        etype = self._registry.get(type_id)
        unknown = set(qr) - QR_FORMATS
        if unknown:
            raise InvalidInput(f"qr formats are svg and png, not {sorted(unknown)}", field="qr")
        if lifetime_s is not None and lifetime_s <= 0:
            raise InvalidInput("lifetime_s must be positive", field="lifetime_s")
        # The entitlement this store last saved a proof on (a citizen's screen renews
        # its proof every few minutes), else a live read. Either way the save refuses it
        # unless it is still the stored one, and then hands over the stored one: a proof
        # is never saved for a right changed or revoked after it was read, and a stale
        # hint costs a round trip, never a wrong proof or a wrong refusal.
        ent = self._store.entitlement_hint(type_id, subject)
        live = False
        for _ in range(_ATTEMPTS):
            refusal = _refusal(ent, type_id, now)
            if refusal is not None and not live:
                ent = await self._store.get_entitlement(type_id, subject)
                live = True
                refusal = _refusal(ent, type_id, now)
            if refusal is not None:
                raise refusal
            assert ent is not None  # `_refusal` refuses None
            try:
                return await self._issue_from(etype, ent, lifetime_s, qr, now)
            except EntitlementMoved as moved:
                ent, live = moved.current, True
        raise Conflict(f"your {type_id} entitlement kept changing while the proof was made; retry")

    async def _issue_from(
        self,
        etype: EntitlementType,
        ent: Entitlement,
        lifetime_s: int | None,
        qr: Sequence[str],
        now: datetime,
    ) -> IssuedProof:
        type_id, subject = ent.type, ent.subject
        # Counter proofs default to minutes; a parking card's proof may live as long as the
        # card, since its revocation travels through the status list.
        default = (
            etype.max_lifetime_s
            if "card_number" in ent.attributes
            else (self._settings.default_proof_lifetime_s)
        )
        wanted = lifetime_s if lifetime_s is not None else default
        # never past the right itself: a parking card's proof ends with the card. In whole
        # epoch seconds (the claims' unit): the floor of `now` plus whole seconds is the
        # floor of `now` plus those seconds, so this is the floor of the earlier end.
        iat = epoch_floor(now)
        # (later than `iat`: `_refusal`)
        exp = min(iat + min(wanted, etype.max_lifetime_s), epoch_floor(ent.valid_until))
        key = self._signing_key()
        jti = random_urlsafe(12)  # 96 random bits
        name = (
            display_name(ent.holder.given_name, ent.holder.family_name)
            if etype.discloses_name
            else None
        )
        attributes = proof_attributes(etype, ent)
        token = encode_proof(
            key,
            issuer=self._settings.issuer,
            iat=iat,
            exp=exp,
            jti=jti,
            type_id=type_id,
            name=name,
            list_uri=self._list_base + ent.status_ref.list_id,
            idx=ent.status_ref.idx,
            attributes=attributes,
        )
        record = ProofRecord(
            jti=jti,
            kid=key.kid,
            subject=subject,
            type=type_id,
            status_ref=ent.status_ref,
            name=name,
            attributes=attributes,
            issued_at=now,
            expires_at=datetime.fromtimestamp(exp, tz=now.tzinfo),
        )
        audit = AuditEvent(
            at=now,
            actor=citizen_actor(subject),
            action="issue",
            type=type_id,
            jti=jti,
            subject=subject,
        )
        code = await self._save(record, audit, ent, with_code=etype.codes)
        image = render_qr(token, svg="svg" in qr, png="png" in qr)
        return IssuedProof(
            token=token,
            jti=jti,
            code=format_code(code) if code else None,
            expires_at=record.expires_at,
            qr_version=image.version,
            qr_svg=image.svg,
            qr_png=image.png,
        )

    async def _save(
        self, record: ProofRecord, audit: AuditEvent, basis: Entitlement, *, with_code: bool
    ) -> str | None:
        if not with_code:
            await self._store.save_proof(record, None, audit, basis)
            return None
        # 10^10 codes: a collision with a held code is rare; draw again rather than fail.
        for _ in range(8):
            code = new_code(random_below)
            digest = code_digest(code, self._code_key)
            if await self._store.save_proof(record, digest, audit, basis):
                return code
        raise StoreError("could not allocate a free numeric code")


def _refusal(ent: Entitlement | None, type_id: str, now: datetime) -> DomainError | None:
    """Why no proof can be made from `ent` at `now`, None when one can: it exists, is
    active, valid, and does not end within the current second (a proof's times are
    whole seconds)."""
    if ent is None:
        return NotFound(f"you have no {type_id} entitlement")
    if ent.status != VALID:
        return Conflict(f"your {type_id} entitlement is not active at the moment")
    if not ent.valid_from <= now < ent.valid_until:
        return Conflict(f"your {type_id} entitlement is not valid today")
    if epoch_floor(ent.valid_until) <= epoch_floor(now):  # a proof of 0 s
        return Conflict(f"your {type_id} entitlement ends now")
    return None
