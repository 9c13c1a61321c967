"""Citizen authentication: an OpenID Connect ID/access token from the national e-ID
provider (or, in development only, from the local dev identity provider).

The token is verified against the provider's JWKS (a URL or a file), its issuer and
audience from configuration, with the algorithm taken from the key type — never from the
token. The NRN is read from a configurable claim, validated and immediately turned into
the keyed pseudonym that records are stored under; it goes no further.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from app.auth.dev_keys import DEV_AUDIENCE, dev_idp_jwks, mint_dev_token
from app.config import Settings
from app.errors import ConfigError, InvalidInput, Unauthenticated
from app.tokens import pseudonym, validate_nrn

__all__ = ["CitizenAuthenticator", "dev_idp_jwks", "mint_dev_token"]

log = logging.getLogger("statuspass.auth")
_CACHE_MAX = 10_000
_ALGS_BY_KTY = {"RSA": ["RS256", "PS256"], "EC": ["ES256", "ES384"], "OKP": ["EdDSA"]}


class _Provider:
    def __init__(self, issuer: str, audience: str, jwks: str | dict[str, Any]) -> None:
        self.issuer, self.audience = issuer, audience
        self._client: PyJWKClient | None = None
        self._keys: dict[str, PyJWK] = {}
        if isinstance(jwks, dict):
            self._keys = {k.key_id: k for k in PyJWKSet.from_dict(jwks).keys if k.key_id}
        elif jwks.startswith(("http://", "https://")):
            self._client = PyJWKClient(jwks, cache_keys=True, lifespan=300, timeout=5)
        else:
            try:
                doc = json.loads(Path(jwks).read_text(encoding="utf-8"))
                self._keys = {k.key_id: k for k in PyJWKSet.from_dict(doc).keys if k.key_id}
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise ConfigError(f"cannot read STATUSPASS_OIDC_JWKS {jwks}: {exc}") from exc

    async def key_for(self, token: str, kid: str) -> PyJWK:
        if self._client is not None:
            try:
                return await asyncio.to_thread(self._client.get_signing_key, kid)
            except jwt.PyJWKClientError as exc:
                raise Unauthenticated("the identity provider's key is unknown") from exc
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the ID token is signed with an unknown key")
        return key


class CitizenAuthenticator:
    def __init__(self, settings: Settings, secret: bytes) -> None:
        self._settings = settings
        self._secret = secret
        self._providers: list[_Provider] = []
        self._verified: dict[bytes, tuple[str, float]] = {}
        if settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks:
            self._providers.append(
                _Provider(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks)
            )
        elif settings.production:
            raise ConfigError("production needs STATUSPASS_OIDC_ISSUER, _AUDIENCE and _JWKS")
        if settings.dev_idp:
            log.warning(
                "DEVELOPMENT IDENTITY PROVIDER ENABLED: anyone can log in as anyone. "
                "Never do this in production."
            )
            self._providers.append(
                _Provider(
                    settings.dev_idp_issuer,
                    settings.oidc_audience or DEV_AUDIENCE,
                    dev_idp_jwks(settings.keys_dir),
                )
            )
        if not self._providers:
            log.warning("no identity provider configured: citizen endpoints will answer 401")

    async def subject(self, token: str | None) -> str:
        """The citizen's pseudonym, from a verified bearer token."""
        if not token or len(token) > 8192:
            raise Unauthenticated("an ID token from the e-ID provider is required")
        # An app sends the same ID token with every request of a session: remember the
        # outcome of a full verification, by the token's hash, until the token expires.
        digest = hashlib.sha256(token.encode()).digest()
        hit = self._verified.get(digest)
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        subject, exp = await self._verify(token)
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()  # bounded memory; refills from the next requests
        self._verified[digest] = (subject, exp + self._settings.clock_skew_s)
        return subject

    async def _verify(self, token: str) -> tuple[str, float]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated("the ID token is malformed") from None
        provider = next((p for p in self._providers if p.issuer == unverified.get("iss")), None)
        kid = header.get("kid")
        if provider is None or not isinstance(kid, str):
            raise Unauthenticated("the ID token is not from a trusted identity provider")
        key = await provider.key_for(token, kid)
        algs = _ALGS_BY_KTY.get(key.key_type or "", [])
        if key.algorithm_name and key.algorithm_name in algs:
            algs = [key.algorithm_name]
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=algs,
                audience=provider.audience,
                issuer=provider.issuer,
                leeway=self._settings.clock_skew_s,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the ID token was refused: {type(exc).__name__}") from None
        nrn = claims.get(self._settings.oidc_nrn_claim)
        if not isinstance(nrn, str):
            raise Unauthenticated("the ID token carries no national register number")
        try:
            return pseudonym(validate_nrn(nrn), self._secret), float(claims["exp"])
        except InvalidInput:
            raise Unauthenticated("the ID token carries an invalid register number") from None
