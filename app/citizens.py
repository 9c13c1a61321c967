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
import os
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWK, PyJWKClient, PyJWKSet

from app.config import Settings
from app.errors import ConfigError, InvalidInput, Unauthenticated
from app.tokens import pseudonym, validate_nrn

__all__ = ["CitizenAuthenticator", "dev_idp_jwks", "mint_dev_token"]

log = logging.getLogger("statuspass.auth")
DEV_IDP_KEY = "dev-idp.pem"
DEV_AUDIENCE = "statuspass"
_CACHE_MAX = 10_000
_ALGS_BY_KTY = {"RSA": ["RS256", "PS256"], "EC": ["ES256", "ES384"], "OKP": ["EdDSA"]}


def _dev_key(keys_dir: str, *, create: bool) -> ec.EllipticCurvePrivateKey:
    path = Path(keys_dir) / DEV_IDP_KEY
    if not path.exists():
        if not create:
            raise ConfigError(f"no development identity provider key at {path}")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it a moment ago: use theirs
        else:
            with open(fd, "wb") as fh:
                fh.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path} is not an EC key")
    return loaded


def dev_idp_jwks(keys_dir: str) -> dict[str, Any]:
    key = _dev_key(keys_dir, create=True)
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="dev-idp", alg="ES256", use="sig")
    return {"keys": [jwk]}


def mint_dev_token(settings: Settings, nrn: str, now: datetime, lifetime_s: int = 3600) -> str:
    """An ID token of the development identity provider (never accepted in production)."""
    validate_nrn(nrn)
    key = _dev_key(settings.keys_dir, create=True)
    claims = {
        "iss": settings.dev_idp_issuer,
        "aud": settings.oidc_audience or DEV_AUDIENCE,
        "sub": secrets.token_hex(8),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=lifetime_s)).timestamp()),
        settings.oidc_nrn_claim: nrn,
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "dev-idp"})


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
