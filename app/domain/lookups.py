"""What a typed code or card number stands for: the claims a verifier is shown for a
stored proof or parking card, and a card number as typed.

Pure functions of the stored records: the online path builds the same `ProofClaims` a
scanned token would give, so a code, a card number and a QR code get the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.domain.dates import epoch_floor
from app.domain.records import INVALID, SUSPENDED, CardRecord, ProofRecord
from app.domain.registry import Registry
from app.domain.validity import card_attributes
from app.errors import InvalidInput
from app.tokens import LAST_EPOCH, ProofClaims, TokenCheck, epoch

__all__ = ["card_check_for", "normalize_card_number", "proof_claims"]


def normalize_card_number(value: str) -> str:
    """Ten ASCII digits; spaces, dots and dashes as typed on a card are ignored."""
    digits = value.replace(" ", "").replace("-", "").replace(".", "")
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        raise InvalidInput("a parking card number is 10 digits", field="card_number")
    return digits


def proof_claims(proof: ProofRecord, list_base: str, *, disclose: bool) -> ProofClaims:
    """The claims of the proof a numeric code is bound to; without its holder's name and
    attributes unless `disclose` (an expired code says only what and until when)."""
    return ProofClaims(
        jti=proof.jti,
        kid=proof.kid,
        type=proof.type,
        name=proof.name if disclose else None,
        iat=int(proof.issued_at.timestamp()),
        exp=int(proof.expires_at.timestamp()),
        list_uri=list_base + proof.status_ref.list_id,
        idx=proof.status_ref.idx,
        attributes=dict(proof.attributes) if disclose else {},
    )


def card_check_for(
    card: CardRecord, list_base: str, registry: Registry, now: datetime
) -> Callable[[int], TokenCheck]:
    """The check of a typed card number at each status its list may hold.

    The dates and claims a proof of this card carries (`proof_attributes`): typing the
    number and scanning the card's QR give the same answer. A card stored before dates
    were checked at input may end past what a result can show (year 9999 in UTC): it is
    then valid until 9999-12-31T23:59:59Z, never a crash.
    """
    expiry = min(epoch_floor(card.valid_until), LAST_EPOCH)
    claims = ProofClaims(
        jti="",
        kid="",
        type="parking_card",
        name=None,
        iat=0,
        exp=expiry,
        list_uri=list_base + card.status_ref.list_id,
        idx=card.status_ref.idx,
        attributes=card_attributes(registry.get("parking_card"), card),
    )
    if epoch(now) >= expiry:
        out_of_time: str | None = "expired"
    elif card.valid_from is not None and now < card.valid_from:
        out_of_time = "not_yet_valid"
    else:
        out_of_time = None

    def card_check(status: int) -> TokenCheck:
        # A revoked or suspended card says so even when it is also out of its dates:
        # the officer needs the stronger reason.
        failure = out_of_time if status not in (INVALID, SUSPENDED) else None
        return TokenCheck(claims=claims, failure=failure)

    return card_check
