"""The one place where errors become HTTP answers: RFC 9457 problem details, and the
`error` codes of the batch stream's answer lines.

Never a stack trace: unexpected errors are logged (without request bodies, which may
hold an NRN or a token) and answered with a bare 500 problem.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    OAuthError,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
    UnknownType,
    VersionConflict,
)

__all__ = [
    "MEDIA",
    "PROBLEM_TYPE",
    "ProblemDetails",
    "exception_handlers",
    "line_error",
    "problem",
]

log = logging.getLogger("statuspass.api")
PROBLEM_TYPE = "https://statuspass.invalid/problems/"
MEDIA = "application/problem+json"


class ProblemDetails(msgspec.Struct, frozen=True):
    """An error answer (RFC 9457), as documented in the OpenAPI document."""

    #: a URI naming the kind of problem: `https://statuspass.invalid/problems/<slug>`
    type: str
    title: str
    status: int
    detail: str | None = None
    #: the input field at fault, for 422 answers
    field: str | None = None
    #: the fields at fault, for 400 answers on a malformed body
    errors: list[dict[str, Any]] | None = None


#: each domain error as a problem (status, slug, title) and as a batch answer line's
#: `error` code. The line codes are the class names the batch stream has carried since
#: its first version: written out here so that renaming a class cannot change the wire.
_DOMAIN: list[tuple[type[DomainError], int, str, str, str]] = [
    (InvalidInput, 422, "invalid-input", "Invalid input", "InvalidInput"),
    (UnknownType, 404, "unknown-type", "Unknown entitlement type", "UnknownType"),
    (NotFound, 404, "not-found", "Not found", "NotFound"),
    (Conflict, 409, "conflict", "Conflict", "Conflict"),
    (Unauthenticated, 401, "unauthenticated", "Authentication required", "Unauthenticated"),
    (Forbidden, 403, "forbidden", "Forbidden", "Forbidden"),
    (RateLimited, 429, "rate-limited", "Too many requests", "RateLimited"),
]


def line_error(exc: DomainError) -> str:
    """The `error` code of a batch answer line refused by a domain error."""
    for cls, *_, code in _DOMAIN:
        if isinstance(exc, cls):
            return code
    return "DomainError"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=MEDIA, headers=headers)


def _domain(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, DomainError)
    for cls, status, slug, title, _code in _DOMAIN:
        if isinstance(exc, cls):
            headers: dict[str, str] = {}
            if isinstance(exc, RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            if isinstance(exc, Unauthenticated):
                headers["WWW-Authenticate"] = 'Bearer realm="statuspass"'
            field = exc.field if isinstance(exc, InvalidInput) else None
            return problem(status, slug, title, exc.detail, headers or None, field=field)
    return problem(400, "bad-request", "Bad request", exc.detail)


def _oauth(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # RFC 6749 5.2: OAuth clients read `error`, so the token endpoint answers in
    # OAuth's own format rather than as a problem detail; never cached (5.1)
    assert isinstance(exc, OAuthError)
    return Response(
        {"error": exc.error, "error_description": exc.detail},
        status_code=400,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.warning("store unavailable: %s", type(exc).__name__)
    return problem(
        503,
        "store-unavailable",
        "Service temporarily unavailable",
        "the data store cannot be reached; nothing was checked or changed",
        {"Retry-After": "5"},
    )


def _conflict(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    return problem(
        409,
        "concurrent-update",
        "Concurrent update",
        "the record changed while we wrote it; retry",
        {"Retry-After": "1"},
    )


def _validation(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, ValidationException)
    errors = exc.extra if isinstance(exc.extra, list) else None
    # Litestar's messages name the field and the rule; they never echo the value sent.
    return problem(400, "malformed-request", "Malformed request", str(exc.detail), errors=errors)


def _http(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    slug = {
        400: "malformed-request",
        401: "unauthenticated",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
        415: "unsupported-media-type",
        429: "rate-limited",
    }.get(status, "http-error")
    headers = dict(exc.headers or {})
    return problem(status, slug, _title(status), str(exc.detail), headers or None)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error(
        "unexpected %s on %s %s",
        type(exc).__name__,
        request.method,
        request.scope.get("route_handler").__class__.__name__,
        exc_info=exc,
    )
    return problem(
        500,
        "internal-error",
        "Internal server error",
        "something went wrong on our side; it has been logged",
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    OAuthError: _oauth,
    DomainError: _domain,
    StoreUnavailable: _unavailable,
    VersionConflict: _conflict,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unexpected,
}
