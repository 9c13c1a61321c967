"""Entitlement types as data: what a proof of each type carries and discloses.

The service loads them from its TOML registry (`app.domain.registry.load_registry`); an
offline verifier rebuilds them from the issuer metadata's ``entitlement_types``
(`registry_from_metadata`), which `public_types` writes. Both sides check proofs with the
same `Registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from app.tokens.errors import UnknownType

__all__ = [
    "LANGUAGES",
    "RESERVED_CLAIMS",
    "EntitlementType",
    "Registry",
    "public_types",
    "registry_from_metadata",
]

LANGUAGES = ("nl", "fr", "de", "en")
#: claims every proof carries: a type's own attributes must never shadow them
RESERVED_CLAIMS = frozenset({"iss", "iat", "exp", "jti", "ent", "nam", "status"})


class EntitlementType(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    labels: dict[str, str]
    disclose: tuple[str, ...] = ()
    #: what the source sends with each entitlement (and every proof carries as sent)
    attributes: tuple[str, ...] = ()
    #: a claim every proof carries with the last day of the entitlement's `valid_until`
    #: (a parking card's "valid until"). Derived, never sent: a card's validity is one
    #: value, so the card's date and the proof's `exp` cannot disagree.
    valid_until_claim: str | None = None
    max_lifetime_s: int = 900
    codes: bool = True

    @property
    def discloses_name(self) -> bool:
        return "name" in self.disclose

    @property
    def claims(self) -> tuple[str, ...]:
        """The type's own claims in a proof: the attributes, then the derived date."""
        if self.valid_until_claim is None:
            return self.attributes
        return (*self.attributes, self.valid_until_claim)

    def label(self, lang: str = "en") -> str:
        return self.labels.get(lang) or self.labels["en"]


class Registry:
    """Entitlement types by id."""

    def __init__(self, types: dict[str, EntitlementType]) -> None:
        self._types = types

    def get(self, type_id: str) -> EntitlementType:
        try:
            return self._types[type_id]
        except KeyError:
            raise UnknownType(f"unknown entitlement type {type_id!r}") from None

    def find(self, type_id: str) -> EntitlementType | None:
        """The type, or None for an id the registry does not know."""
        return self._types.get(type_id)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._types

    def all(self) -> list[EntitlementType]:
        return list(self._types.values())

    @property
    def max_lifetime_s(self) -> int:
        return max(t.max_lifetime_s for t in self._types.values())


def public_types(registry: Registry) -> list[dict[str, object]]:
    """The types as issuer metadata publishes them (``entitlement_types``): what an
    offline verifier needs to check a proof's claims, label it and disclose its data."""
    return [
        {
            "id": t.id,
            "labels": t.labels,
            "disclosed_claims": (["nam"] if t.discloses_name else []) + list(t.claims),
            "max_lifetime_s": t.max_lifetime_s,
            "numeric_codes": t.codes,
        }
        for t in registry.all()
    ]


class _PublishedType(msgspec.Struct, frozen=True):
    id: str
    labels: dict[str, str]
    disclosed_claims: list[str]
    max_lifetime_s: int
    numeric_codes: bool = True


def registry_from_metadata(entitlement_types: Iterable[Mapping[str, Any]]) -> Registry:
    """The registry an offline verifier needs, from the issuer metadata's
    ``entitlement_types`` (the inverse of `public_types` for everything a check reads:
    the claims a proof must carry, the labels, whether the name is disclosed).

    Raises:
        msgspec.ValidationError: an entry that is not a published type.
    """
    published = msgspec.convert(list(entitlement_types), list[_PublishedType])
    return Registry(
        {
            t.id: EntitlementType(
                id=t.id,
                labels=t.labels,
                disclose=("name",) if "nam" in t.disclosed_claims else (),
                attributes=tuple(c for c in t.disclosed_claims if c != "nam"),
                max_lifetime_s=t.max_lifetime_s,
                codes=t.numeric_codes,
            )
            for t in published
        }
    )
