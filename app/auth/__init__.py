"""Citizen sign-in: OpenID Connect against the e-ID provider (`oidc`) and the local
development identity provider (`dev_*`: its keys, login page, codes and token flow)."""

from __future__ import annotations

from app.auth.dev_keys import dev_idp_jwks, mint_dev_token
from app.auth.oidc import CitizenAuthenticator

__all__ = ["CitizenAuthenticator", "dev_idp_jwks", "mint_dev_token"]
