"""The errors the pure core raises, at the root of the service's error tree.

They are defined here, not in `app.errors`, so that `app.tokens` imports nothing else
from `app` (a partner embeds it alone); `app.errors` re-exports them and grows the rest
of the tree under them, so ``except DomainError`` and the HTTP mapping see one class.
"""

from __future__ import annotations

__all__ = ["DomainError", "InvalidInput", "StatuspassError", "UnknownType"]


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
