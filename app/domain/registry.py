"""The registry of entitlement types, read from the shipped TOML file or an override."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import msgspec

from app.errors import ConfigError, UnknownType

__all__ = [
    "LANGUAGES",
    "RESERVED_CLAIMS",
    "EntitlementType",
    "Registry",
    "load_registry",
    "public_types",
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


class _TypeFile(msgspec.Struct, forbid_unknown_fields=True):
    labels: dict[str, str]
    disclose: list[str] = []
    attributes: list[str] = []
    valid_until_claim: str | None = None
    max_lifetime_s: int = 900
    codes: bool = True


class Registry:
    """Entitlement types by id."""

    def __init__(self, types: dict[str, EntitlementType]) -> None:
        self._types = types

    def get(self, type_id: str) -> EntitlementType:
        try:
            return self._types[type_id]
        except KeyError:
            raise UnknownType(f"unknown entitlement type {type_id!r}") from None

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


def load_registry(path: str | None = None) -> Registry:
    """Load the shipped registry, or the file at `path`.

    Raises:
        ConfigError: unreadable file, unknown keys, a missing label or a bad lifetime.
    """
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = (resources.files("app.domain") / "entitlement_types.toml").read_text("utf-8")
        raw = tomllib.loads(text)
        files = msgspec.convert(raw.get("types", {}), dict[str, _TypeFile])
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"cannot load the entitlement registry: {exc}") from exc
    types: dict[str, EntitlementType] = {}
    for type_id, spec in files.items():
        missing = [lang for lang in LANGUAGES if not spec.labels.get(lang)]
        if missing:
            raise ConfigError(f"type {type_id}: labels missing for {', '.join(missing)}")
        if spec.max_lifetime_s <= 0:
            raise ConfigError(f"type {type_id}: max_lifetime_s must be positive")
        claims = [*spec.attributes, *([spec.valid_until_claim] if spec.valid_until_claim else [])]
        clashes = sorted(RESERVED_CLAIMS.intersection(claims)) + sorted(
            {c for c in claims if claims.count(c) > 1}
        )
        if clashes:
            raise ConfigError(f"type {type_id}: claim names used twice: {', '.join(clashes)}")
        types[type_id] = EntitlementType(
            id=type_id,
            labels=spec.labels,
            disclose=tuple(spec.disclose),
            attributes=tuple(spec.attributes),
            valid_until_claim=spec.valid_until_claim,
            max_lifetime_s=spec.max_lifetime_s,
            codes=spec.codes,
        )
    if not types:
        raise ConfigError("the entitlement registry defines no type")
    return Registry(types)
