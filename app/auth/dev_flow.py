"""The dev IdP's OpenID Connect rules: authorization code flow with PKCE, public client.

Follows OAuth 2.0 (RFC 6749), PKCE (RFC 7636, S256 only), OpenID Connect Core 1.0 and
Discovery 1.0, and the `iss` authorization response parameter (RFC 9207). No I/O and no
clock here: the routes in `app.api.routes.dev_idp` pass `now` and the pending codes.

One client is registered: the citizen app, with exactly one redirect URI (the app's
address under the service's issuer). Requests whose client or redirect URI do not match
are refused on a page, never redirected (RFC 6749 4.1.2.1); every other refusal goes
back to the client as `error`, `error_description`, `state` and `iss` in the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

from app.auth.dev_codes import Grant, PendingCodes
from app.auth.dev_keys import DEV_CLIENT_ID, DevSigner
from app.config import Settings
from app.errors import OAuthError

__all__ = [
    "AuthorizationRefused",
    "AuthorizationRequest",
    "DevProvider",
    "redirect_to",
]

CODE_LIFETIME_S = 60  # RFC 6749 4.1.2: short-lived, ten minutes at most
TOKEN_LIFETIME_S = 3600
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 4.1
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


def _single(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The parameters as a dict; `_Duplicate` if one was sent twice (RFC 6749 3.1, 3.2)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(Exception):
    pass


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class DevProvider:
    """The development identity provider: discovery, authorization, token exchange."""

    def __init__(self, settings: Settings, signer: DevSigner, codes: PendingCodes) -> None:
        self.settings = settings
        self.signer = signer
        self.codes = codes
        self.issuer = settings.dev_idp_issuer
        self.client_id = settings.oidc_client_id or DEV_CLIENT_ID
        #: the one redirect URI registered for the citizen app: compared exactly
        self.redirect_uri = f"{settings.issuer.rstrip('/')}/citizen/"

    def discovery(self) -> dict[str, Any]:
        """OpenID Provider Metadata (Discovery 1.0, section 3)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "ui_locales_supported": ["nl", "fr", "de", "en"],
        }

    def check_authorization(self, pairs: Iterable[tuple[str, str]]) -> AuthorizationRequest:
        """Check an authorization request (query or form parameters).

        Raises:
            AuthorizationRefused: the request cannot be served; redirect or tell.
        """
        try:
            p = _single(pairs)
        except _Duplicate as dup:
            raise AuthorizationRefused(
                "invalid_request", f"the parameter {dup} was sent more than once"
            ) from None
        # Client and redirect URI first: until both are known good, nothing may be
        # sent to the redirect URI (an open redirector otherwise).
        if p.get("client_id") != self.client_id:
            raise AuthorizationRefused("invalid_client", "this client is not registered here")
        if p.get("redirect_uri") != self.redirect_uri:
            raise AuthorizationRefused(
                "invalid_request", "the redirect URI is not the one registered for this client"
            )
        state = p.get("state")

        def refuse(error: str, description: str) -> AuthorizationRefused:
            return AuthorizationRefused(
                error, description, redirect_uri=self.redirect_uri, state=state
            )

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
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scope=p["scope"],
            code_challenge=challenge,
            state=state,
            nonce=p.get("nonce"),
            ui_locales=p.get("ui_locales"),
        )

    def approve(self, req: AuthorizationRequest, nrn: str, now: datetime) -> str:
        """The URL that sends the person back to the client with a new code."""
        at = int(now.timestamp())
        grant = Grant(
            client_id=req.client_id,
            redirect_uri=req.redirect_uri,
            code_challenge=req.code_challenge,
            nrn=nrn,
            nonce=req.nonce,
            scope=req.scope,
            auth_time=at,
            expires=at + CODE_LIFETIME_S,
        )
        code = self.codes.put(grant, at)
        return redirect_to(req.redirect_uri, {"code": code, "state": req.state, "iss": self.issuer})

    def deny(self, req: AuthorizationRequest) -> str:
        """The URL that tells the client the person cancelled (RFC 6749 4.1.2.1)."""
        return redirect_to(
            req.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "the person cancelled the login",
                "state": req.state,
                "iss": self.issuer,
            },
        )

    def refused_url(self, refused: AuthorizationRefused) -> str | None:
        if refused.redirect_uri is None:
            return None
        return redirect_to(
            refused.redirect_uri,
            {
                "error": refused.error,
                "error_description": refused.description,
                "state": refused.state,
                "iss": self.issuer,
            },
        )

    def exchange(self, pairs: Iterable[tuple[str, str]], now: datetime) -> dict[str, Any]:
        """The token endpoint (RFC 6749 4.1.3 and 5, RFC 7636 4.5 and 4.6).

        Raises:
            OAuthError: the request is refused, with the RFC 6749 5.2 error code.
        """
        try:
            p = _single(pairs)
        except _Duplicate as dup:
            raise OAuthError(
                "invalid_request", f"the parameter {dup} was sent more than once"
            ) from None
        grant_type = p.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code")
        for name in ("client_id", "code", "redirect_uri", "code_verifier"):
            if not p.get(name):
                raise OAuthError("invalid_request", f"{name} is missing")
        if p["client_id"] != self.client_id:
            raise OAuthError("invalid_client", "this client is not registered here")
        if not _PKCE_VERIFIER.fullmatch(p["code_verifier"]):
            raise OAuthError("invalid_request", "the code verifier is malformed")
        at = int(now.timestamp())
        # Taken, i.e. gone, before it is checked: a code that fails once (wrong
        # verifier, wrong redirect URI) cannot be tried again.
        grant = self.codes.take(p["code"], at)
        if grant is None:
            raise OAuthError("invalid_grant", "the code is unknown, used or expired")
        if grant.client_id != p["client_id"] or grant.redirect_uri != p["redirect_uri"]:
            raise OAuthError("invalid_grant", "the code was issued for another client or URI")
        if not hmac.compare_digest(s256(p["code_verifier"]), grant.code_challenge):
            raise OAuthError("invalid_grant", "the code verifier does not match the challenge")
        return {
            "access_token": self.signer.access_token(
                grant.nrn, now, TOKEN_LIFETIME_S, client_id=grant.client_id
            ),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "id_token": self._id_token(grant, now),
            "scope": grant.scope,
        }

    def _id_token(self, grant: Grant, now: datetime) -> str:
        # the ID token tells the app who logged in; it carries no NRN (the app needs
        # none) and its audience is the app, so the API refuses it as a bearer token
        at = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.signer.subject(grant.nrn),
            "aud": grant.client_id,
            "iat": at,
            "exp": at + TOKEN_LIFETIME_S,
            "auth_time": grant.auth_time,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return self.signer.sign(claims)
