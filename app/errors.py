"""The domain error tree. Nothing here knows about HTTP; `app.api.problems` maps it.

The root and the two errors the pure token core raises (`StatuspassError`,
`DomainError`, `InvalidInput`, `UnknownType`) live in `app.tokens.errors`, so the core
needs nothing from here; they are re-exported below as part of this one tree.

StatuspassError
├── ConfigError            configuration or key material that cannot be used: refuse to start
├── StoreError
│   ├── StoreUnavailable   the store cannot be reached now (retry later)
│   └── VersionConflict    a concurrent writer changed the record (retry the operation)
│       └── EntitlementMoved   the entitlement a proof was made from is not the stored one
└── DomainError            the caller asked for something that cannot be done
    ├── InvalidInput       a field is syntactically or semantically wrong
    ├── UnknownType        the entitlement type is not in the registry
    ├── NotFound           the record does not exist
    ├── Conflict           the request contradicts what is stored
    ├── Unauthenticated    no, or no valid, credentials
    ├── Forbidden          valid credentials, but not for this
    ├── RateLimited        too many attempts; retry after `retry_after` seconds
    └── OAuthError         an OAuth 2.0 token request refused (dev identity provider)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.tokens.errors import DomainError, InvalidInput, StatuspassError, UnknownType

if TYPE_CHECKING:
    from app.domain.records import Entitlement

__all__ = [
    "ConfigError",
    "Conflict",
    "DomainError",
    "EntitlementMoved",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "OAuthError",
    "RateLimited",
    "StatuspassError",
    "StoreError",
    "StoreUnavailable",
    "Unauthenticated",
    "UnknownType",
    "VersionConflict",
]


class ConfigError(StatuspassError):
    """Configuration or key material that cannot be used; the service must not start."""


class StoreError(StatuspassError):
    """The store failed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the caller may retry later."""


class VersionConflict(StoreError):
    """A concurrent writer changed the record between read and write."""


class EntitlementMoved(VersionConflict):
    """A proof was to be saved for an entitlement that is no longer the stored one
    (changed since it was read, or a stale hint): no proof was written. `current` is the
    stored one, read in the same atomic step (None: there is none)."""

    def __init__(self, current: Entitlement | None) -> None:
        super().__init__("the entitlement changed since it was read")
        self.current = current


class NotFound(DomainError):
    """The record does not exist."""


class Conflict(DomainError):
    """The request contradicts what is stored."""


class Unauthenticated(DomainError):
    """No, or no valid, credentials."""


class Forbidden(DomainError):
    """Valid credentials, but not for this action or type."""


class RateLimited(DomainError):
    """Too many attempts; retry after `retry_after` seconds."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OAuthError(DomainError):
    """A token request refused with an RFC 6749 5.2 `error` code (answered in that
    format, not as a problem detail, because OAuth clients read `error`). Always a 400:
    the only client is public and never authenticates, so `invalid_client` needs no 401."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
