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

__all__ = ["DEFAULT_ISSUER", "Settings", "issuer_configured", "load_settings"]

Env = Literal["development", "production"]
#: the issuer of commands run without STATUSPASS_ISSUER: `serve`'s own default address.
#: `serve` itself uses the address it serves instead (see `app.cli.serve`).
DEFAULT_ISSUER = "http://127.0.0.1:8000"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable, with the defaults of the specification."""

    store_url: str = "sqlite:///./var/statuspass.sqlite3"
    keys_dir: str = "./keys"
    issuer: str = DEFAULT_ISSUER
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
    #: metrics (`app.api.edge.metrics_share`); not a setting to make by hand
    metrics_dir: str | None = None
    #: the audit log's identity in its checkpoints (default: the issuer's host + /audit)
    audit_origin: str | None = None
    #: seconds between two signed checkpoints of the audit log (0: only on shutdown);
    #: an hour, as CloudTrail's digests: each one lists every chain, so its size is
    #: (workers * shards * lanes in use) * ~100 bytes
    audit_checkpoint_s: int = 3600
    #: days of audit records kept in the store; older ones go to the archive (0: all)
    audit_retention_days: int = 0
    #: the same window in seconds, instead of days when set (> 0): for tests and
    #: soak benchmarks that must see the window fill and level off within minutes
    audit_retention_s: int = 0
    #: where `audit_retention_days` moves archived segments (the service archives only
    #: when this is set; `statuspass audit archive` takes its own --to)
    audit_archive_dir: str | None = None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def status_list_base(self) -> str:
        return f"{self.issuer.rstrip('/')}/v1/status-lists/"

    @property
    def audit_log_origin(self) -> str:
        """The origin line of checkpoints: a schema-less URL, e.g. `example.org/audit`."""
        if self.audit_origin:
            return self.audit_origin
        host = self.issuer.split("://", 1)[1].rstrip("/")
        return f"{host}/audit"

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


def _configured(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the TOML file and the environment set, as typed values."""
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
    return values


def issuer_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether STATUSPASS_ISSUER (or the TOML file) names the issuer, rather than the
    default applying: `serve` then uses the address it serves, and production refuses."""
    return "issuer" in _configured(os.environ if environ is None else environ)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the optional TOML file and the environment.

    Raises:
        ConfigError: an unknown key, a value of the wrong type, or an unreadable file.
    """
    values = _configured(os.environ if environ is None else environ)
    values.update(overrides)
    try:
        settings = msgspec.convert(values, Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    if not settings.issuer.startswith(("http://", "https://")):
        raise ConfigError("STATUSPASS_ISSUER must be an http(s) URL")
    if settings.production and settings.dev_idp:
        raise ConfigError("STATUSPASS_DEV_IDP must not be enabled in production")
    if settings.default_proof_lifetime_s <= 0:
        raise ConfigError("STATUSPASS_DEFAULT_PROOF_LIFETIME_S must be positive")
    return settings
