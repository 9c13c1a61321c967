"""One typed `Settings` object, built from `STATUSPASS_*` variables and an optional TOML file.

Precedence: built-in defaults < the TOML file named by `STATUSPASS_CONFIG` < environment.
Nothing is read at import time: callers build `Settings` once and pass it down.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from app.errors import ConfigError

__all__ = ["Settings", "load_settings"]

Env = Literal["development", "production"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable, with the defaults of the specification."""

    store_url: str = "sqlite:///./var/statuspass.sqlite3"
    keys_dir: str = "./keys"
    issuer: str = "http://127.0.0.1:8000"
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks: str | None = None
    oidc_nrn_claim: str = "nrn"
    #: the citizen app's client id at the e-ID provider (a public client: no secret)
    oidc_client_id: str | None = None
    #: what the citizen app asks the provider for; must release the NRN claim
    oidc_scope: str = "openid"
    env: Env = "development"
    dev_idp: bool = False
    registry: str | None = None
    #: passphrase for encrypted PEM files; read from the environment only
    keys_passphrase: str | None = None
    default_proof_lifetime_s: int = 300
    status_list_ttl_s: int = 300
    status_list_exp_s: int = 86_400
    clock_skew_s: int = 60
    seen_window_s: int = 600
    max_body_bytes: int = 64 * 1024
    max_batch_bytes: int = 512 * 1024 * 1024
    #: failed numeric-code or card lookups a verifier may make per window
    lookup_failures_per_window: int = 30
    lookup_window_s: int = 60
    store_timeout_s: float = 2.0
    #: requests in flight per worker before new ones get 429 + Retry-After
    max_in_flight: int = 512
    #: set by `serve` for its workers when it runs several: where they share their
    #: metrics (`app.api.metrics_share`); not a setting to make by hand
    metrics_dir: str | None = None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def status_list_base(self) -> str:
        return f"{self.issuer.rstrip('/')}/v1/status-lists/"

    @property
    def dev_idp_issuer(self) -> str:
        return f"{self.issuer.rstrip('/')}/dev-idp"


_FIELDS = {f.name: f for f in msgspec.structs.fields(Settings)}


def _coerce(name: str, raw: str) -> Any:
    field_type = _FIELDS[name].type
    text = raw.strip()
    if field_type is bool:
        if text.lower() in {"1", "true", "yes", "on"}:
            return True
        if text.lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"STATUSPASS_{name.upper()} must be 0 or 1, not {raw!r}")
    if field_type is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"STATUSPASS_{name.upper()} must be an integer") from None
    if field_type is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"STATUSPASS_{name.upper()} must be a number") from None
    return text or None if "None" in str(field_type) else text


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the optional TOML file and the environment.

    Raises:
        ConfigError: an unknown key, a value of the wrong type, or an unreadable file.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get("STATUSPASS_CONFIG")
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read STATUSPASS_CONFIG {config_file}: {exc}") from exc
        for key, value in data.items():
            if key not in _FIELDS or key == "keys_passphrase":
                raise ConfigError(f"unknown or environment-only setting {key!r} in {config_file}")
            values[key] = value
    for name in _FIELDS:
        raw = env.get(f"STATUSPASS_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw)
    values.update(overrides)
    try:
        settings = msgspec.convert(values, Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    if not settings.issuer.startswith(("http://", "https://")):
        raise ConfigError("STATUSPASS_ISSUER must be an http(s) URL")
    if settings.production and settings.dev_idp:
        raise ConfigError("STATUSPASS_DEV_IDP must not be enabled in production")
    return settings
