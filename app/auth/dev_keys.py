"""The development identity provider's signing key and the tokens it signs.

Development only: `STATUSPASS_DEV_IDP=1` (refused in production by `load_settings`).
The key is an EC P-256 key in the keys directory, created on first use; several
workers share it (the first one to create the file wins, the others read it).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import Settings
from app.errors import ConfigError
from app.tokens import validate_nrn

__all__ = [
    "DEV_AUDIENCE",
    "DEV_CLIENT_ID",
    "DevSigner",
    "dev_idp_jwks",
    "mint_dev_token",
]

DEV_IDP_KEY = "dev-idp.pem"
DEV_KID = "dev-idp"
#: the audience of the access tokens the dev IdP issues for the Statuspass API, unless
#: STATUSPASS_OIDC_AUDIENCE names another
DEV_AUDIENCE = "statuspass"
#: the citizen app's client id at the dev IdP, unless STATUSPASS_OIDC_CLIENT_ID names one
DEV_CLIENT_ID = "statuspass-citizen"


def _dev_key(keys_dir: str) -> ec.EllipticCurvePrivateKey:
    path = Path(keys_dir) / DEV_IDP_KEY
    if not path.exists():
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


class DevSigner:
    """Signs the dev IdP's tokens; its public key is the dev IdP's JWKS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key = _dev_key(settings.keys_dir)
        # `sub` must be stable per person and reveal nothing (OIDC Core 8): a hash of the
        # NRN keyed with this provider's own private key
        self._sub_secret = hashlib.sha256(
            self._key.private_numbers().private_value.to_bytes(32, "big")
        ).digest()

    @property
    def issuer(self) -> str:
        return self.settings.dev_idp_issuer

    @property
    def api_audience(self) -> str:
        return self.settings.oidc_audience or DEV_AUDIENCE

    def jwks(self) -> dict[str, Any]:
        return _public_jwks(self._key)

    def subject(self, nrn: str) -> str:
        return hashlib.sha256(self._sub_secret + nrn.encode()).hexdigest()[:32]

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        return jwt.encode(
            claims, self._key, algorithm="ES256", headers={"kid": DEV_KID, "typ": typ}
        )

    def access_token(
        self, nrn: str, now: datetime, lifetime_s: int, *, client_id: str | None = None
    ) -> str:
        """A JWT access token for the Statuspass API (RFC 9068 claims), carrying the NRN
        in the configured claim as the real e-ID provider's tokens do."""
        validate_nrn(nrn)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.api_audience,
            "sub": self.subject(nrn),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=lifetime_s)).timestamp()),
            "jti": secrets.token_urlsafe(16),
            self.settings.oidc_nrn_claim: nrn,
        }
        if client_id is None:
            return self.sign(claims)
        claims.update(client_id=client_id, scope="openid")
        return self.sign(claims, typ="at+jwt")


def _public_jwks(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=DEV_KID, alg="ES256", use="sig")
    return {"keys": [jwk]}


def dev_idp_jwks(keys_dir: str) -> dict[str, Any]:
    """The dev IdP's public keys, creating its key on first use."""
    return _public_jwks(_dev_key(keys_dir))


def mint_dev_token(settings: Settings, nrn: str, now: datetime, lifetime_s: int = 3600) -> str:
    """A token of the development identity provider for the API (`statuspass dev
    citizen-token`), never accepted in production."""
    return DevSigner(settings).access_token(nrn, now, lifetime_s)
