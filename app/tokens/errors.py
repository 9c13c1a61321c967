"""The errors the pure core raises: `JoseError` for a token or key that cannot be
trusted (a verification outcome, not a request error), and the roots of the service's
error tree.

They are defined here, not in `app.errors`, so that `app.tokens` imports nothing else
from `app` (a partner embeds it alone); `app.errors` re-exports them and grows the rest
of the tree under them, so ``except DomainError`` and the HTTP mapping see one class.
"""

from __future__ import annotations

__all__ = ["DomainError", "InvalidInput", "JoseError", "StatuspassError", "UnknownType"]


class StatuspassError(Exception):
    """Base of every error raised on purpose by Statuspass."""


class DomainError(StatuspassError):
    """The request cannot be fulfilled as asked."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    """A field is syntactically or semantically wrong."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class UnknownType(DomainError):
    """The entitlement type is not in the registry."""


class JoseError(Exception):
    """A token or key that cannot be trusted; `reason` is the wire-level reason.

    Reasons: ``malformed`` (syntax, typ, crit, size), ``unknown_key`` (kid not in the
    key set), ``bad_signature`` (wrong algorithm for the key, or signature mismatch).
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason
