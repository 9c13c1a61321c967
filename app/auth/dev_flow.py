"""The dev IdP's OpenID Connect rules: authorization code flow with PKCE, public client.

Follows OAuth 2.0 (RFC 6749), PKCE (RFC 7636, S256 only), OpenID Connect Core 1.0 and
Discovery 1.0, and the `iss` authorization response parameter (RFC 9207). No I/O and no
clock here: the routes in `app.api.routes.dev_idp` pass `now` and the pending codes.

One client is registered: the citizen app, with exactly one redirect URI (the app's
address under the service's issuer). Its authorization request, checked, and how a
refusal goes back to it are `dev_request`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.auth.dev_codes import Grant, PendingCodes
from app.auth.dev_keys import DEV_CLIENT_ID, DevSigner
from app.auth.dev_request import (
    AuthorizationRefused,
    AuthorizationRequest,
    Duplicate,
    check_authorization,
    redirect_to,
    single,
)
from app.config import Settings
from app.errors import OAuthError

__all__ = ["CODE_LIFETIME_S", "DevProvider", "s256"]

CODE_LIFETIME_S = 60  # RFC 6749 4.1.2: short-lived, ten minutes at most
TOKEN_LIFETIME_S = 3600
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 4.1


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
        return check_authorization(pairs, client_id=self.client_id, redirect_uri=self.redirect_uri)

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
            p = single(pairs)
        except Duplicate as dup:
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
