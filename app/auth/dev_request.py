"""The dev IdP's authorization request (RFC 6749 4.1.1, RFC 7636 4.3, OpenID Connect
Core 3.1.2.1): the parameters a client sends to `/authorize`, checked, and how a refusal
goes back to it.

Requests whose client or redirect URI do not match are refused on a page, never
redirected (RFC 6749 4.1.2.1); every other refusal goes back to the client as `error`,
`error_description`, `state` and `iss` in the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

__all__ = [
    "AuthorizationRefused",
    "AuthorizationRequest",
    "Duplicate",
    "check_authorization",
    "redirect_to",
    "single",
]

_PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")  # base64url of a SHA-256, no padding
_MAX_VALUE = 512  # state, nonce, scope: a client needs far less


class AuthorizationRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A checked authorization request, as carried through the login form."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    state: str | None = None
    nonce: str | None = None
    ui_locales: str | None = None

    def form_fields(self) -> dict[str, str]:
        """The parameters to resend with the login form (RFC 6749 4.1.1 names)."""
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        for name in ("state", "nonce", "ui_locales"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields


class AuthorizationRefused(Exception):
    """A refused authorization request. With `redirect_uri` None the client or its
    redirect URI cannot be trusted: tell the person, do not redirect."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error, self.description = error, description
        self.redirect_uri, self.state = redirect_uri, state


def redirect_to(uri: str, params: dict[str, str | None]) -> str:
    """`uri` with `params` added to its query (keeping the query it had, RFC 6749 3.1.2)."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def single(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The parameters as a dict; `Duplicate` if one was sent twice (RFC 6749 3.1, 3.2)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise Duplicate(key)
        out[key] = value
    return out


class Duplicate(Exception):
    """A parameter sent more than once."""


def check_authorization(
    pairs: Iterable[tuple[str, str]], *, client_id: str, redirect_uri: str
) -> AuthorizationRequest:
    """Check an authorization request (query or form parameters) of the one client
    registered, `client_id`, with its one redirect URI.

    Raises:
        AuthorizationRefused: the request cannot be served; redirect or tell.
    """
    try:
        p = single(pairs)
    except Duplicate as dup:
        raise AuthorizationRefused(
            "invalid_request", f"the parameter {dup} was sent more than once"
        ) from None
    # Client and redirect URI first: until both are known good, nothing may be
    # sent to the redirect URI (an open redirector otherwise).
    if p.get("client_id") != client_id:
        raise AuthorizationRefused("invalid_client", "this client is not registered here")
    if p.get("redirect_uri") != redirect_uri:
        raise AuthorizationRefused(
            "invalid_request", "the redirect URI is not the one registered for this client"
        )
    state = p.get("state")

    def refuse(error: str, description: str) -> AuthorizationRefused:
        return AuthorizationRefused(error, description, redirect_uri=redirect_uri, state=state)

    if any(len(v) > _MAX_VALUE for v in p.values()):
        raise refuse("invalid_request", "a parameter is too long")
    if "request" in p:
        raise refuse("request_not_supported", "request objects are not supported")
    if "request_uri" in p:
        raise refuse("request_uri_not_supported", "request_uri is not supported")
    if p.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only the authorization code flow")
    if p.get("response_mode", "query") != "query":
        raise refuse("invalid_request", "only response_mode=query is supported")
    if "openid" not in p.get("scope", "").split():
        raise refuse("invalid_scope", "the scope must include openid")
    challenge = p.get("code_challenge")
    if not challenge:
        raise refuse("invalid_request", "code challenge required")  # RFC 7636 4.4.1
    # RFC 7636 4.3: a missing method means "plain", which a public client must not use
    if p.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "transform algorithm not supported")
    if not _PKCE_CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "the code challenge is not an S256 challenge")
    if p.get("prompt") and "none" in p["prompt"].split():
        # no session to reuse here: every login is a fresh one (OIDC Core 3.1.2.6)
        raise refuse("login_required", "a login is required")
    return AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=p["scope"],
        code_challenge=challenge,
        state=state,
        nonce=p.get("nonce"),
        ui_locales=p.get("ui_locales"),
    )
