"""The registry of entitlement types, read from the shipped TOML file or an override.

The types themselves are data of the token core (`app.tokens.types`), re-exported here.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import msgspec

from app.errors import ConfigError
from app.tokens.types import (
    LANGUAGES,
    RESERVED_CLAIMS,
    EntitlementType,
    Registry,
    public_types,
)

__all__ = [
    "LANGUAGES",
    "RESERVED_CLAIMS",
    "EntitlementType",
    "Registry",
    "load_registry",
    "public_types",
]


class _TypeFile(msgspec.Struct, forbid_unknown_fields=True):
    labels: dict[str, str]
    disclose: list[str] = []
    attributes: list[str] = []
    valid_until_claim: str | None = None
    max_lifetime_s: int = 900
    codes: bool = True


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
