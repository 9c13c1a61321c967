"""How long a right is valid, and the one date a proof derives from it.

An entitlement is valid from `valid_from` until `valid_until` (exclusive), both sent by
its source and checked at input (`app.domain.dates`). A type may carry the last day of
that validity in its proofs (`EntitlementType.valid_until_claim`: a parking card's
`card_valid_until`, printed on the card). That date is derived, never stored on its own,
so a card has one validity: the QR proof, the typed card number and the printed date
cannot disagree, and a proof never outlives its card.
"""

from __future__ import annotations

from datetime import datetime

from app.domain.dates import check_instant, last_day, parse_date
from app.domain.records import CardRecord, Entitlement
from app.domain.registry import EntitlementType
from app.errors import InvalidInput

__all__ = ["card_attributes", "checked_attributes", "proof_attributes"]


def checked_attributes(
    etype: EntitlementType, valid_from: datetime, valid_until: datetime, attributes: dict[str, str]
) -> dict[str, str]:
    """Check a grant's dates; return its attributes as stored (the derived claim out).

    A source may still send the derived claim (sources written before it was derived
    do): it must then name the same day as `valid_until`, or the grant is refused
    rather than stored with two validities.

    Raises:
        InvalidInput: a naive or out-of-range time, an empty period, or a derived claim
            that is not a date or disagrees with `valid_until`.
    """
    check_instant(valid_from, "valid_from")
    check_instant(valid_until, "valid_until")
    if valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from", field="valid_until")
    claim = etype.valid_until_claim
    if claim is None or claim not in attributes:
        return attributes
    field = f"attributes.{claim}"
    sent, derived = parse_date(attributes[claim], field), last_day(valid_until)
    if sent != derived:
        raise InvalidInput(
            f"{claim} {sent.isoformat()} disagrees with valid_until, whose last day is "
            f"{derived.isoformat()}: send valid_until only (the end of the card's last day)",
            field=field,
        )
    return {k: v for k, v in attributes.items() if k != claim}


def proof_attributes(etype: EntitlementType, ent: Entitlement) -> dict[str, str]:
    """The type's claims in a proof of `ent`: its attributes as sent, then the last day
    of its validity where the type carries one."""
    out = {name: ent.attributes[name] for name in etype.attributes}
    if etype.valid_until_claim is not None:
        out[etype.valid_until_claim] = last_day(ent.valid_until).isoformat()
    return out


def card_attributes(etype: EntitlementType, card: CardRecord) -> dict[str, str]:
    """What a typed card number shows: the claims a proof of the card carries."""
    out = {"card_number": card.number}
    if etype.valid_until_claim is not None:
        out[etype.valid_until_claim] = last_day(card.valid_until).isoformat()
    return out
