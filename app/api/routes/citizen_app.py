"""What the citizen app needs to know to log in: `GET /citizen/config.json`.

The app is a public OpenID Connect client (no secret in the browser) of the configured
e-ID provider (`STATUSPASS_OIDC_ISSUER` with `STATUSPASS_OIDC_CLIENT_ID`), or, when that
is not configured and `STATUSPASS_DEV_IDP=1`, of the development identity provider. It
finds the provider's endpoints through the provider's discovery document.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, get

from app.auth.dev_keys import DEV_CLIENT_ID
from app.config import Settings

__all__ = ["CitizenLogin", "citizen_app_config", "citizen_connect_src", "citizen_login"]


class CitizenLogin(msgspec.Struct, frozen=True, kw_only=True):
    """The citizen app's login settings; `issuer` None when no provider is configured."""

    issuer: str | None
    client_id: str | None = None
    scope: str = "openid"
    redirect_uri: str | None = None
    #: the token the app sends to `/v1/me/*`: the service accepts tokens whose audience
    #: is STATUSPASS_OIDC_AUDIENCE, and an ID token's audience is always the client, so
    #: an audience equal to the client id means ID tokens; anything else, access tokens
    api_token: Literal["access_token", "id_token"] = "access_token"  # noqa: S105
    development: bool = False


def citizen_login(settings: Settings) -> CitizenLogin:
    redirect_uri = f"{settings.issuer.rstrip('/')}/citizen/"
    if settings.oidc_issuer and settings.oidc_client_id:
        return CitizenLogin(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            scope=settings.oidc_scope,
            redirect_uri=redirect_uri,
            api_token=(
                "id_token" if settings.oidc_audience == settings.oidc_client_id else "access_token"
            ),
        )
    if settings.dev_idp:
        return CitizenLogin(
            issuer=settings.dev_idp_issuer,
            client_id=settings.oidc_client_id or DEV_CLIENT_ID,
            redirect_uri=redirect_uri,
            development=True,
        )
    return CitizenLogin(issuer=None)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def citizen_connect_src(settings: Settings) -> list[str]:
    """The origin the citizen app's pages must be allowed to call besides the service's
    own (CSP connect-src): the e-ID provider's, for its discovery document and token
    endpoint, when it lives elsewhere. Its login page is a navigation, not a call."""
    issuer = citizen_login(settings).issuer
    if issuer is None or _origin(issuer) == _origin(settings.issuer):
        return []
    return [_origin(issuer)]


@get("/citizen/config.json", include_in_schema=False, sync_to_thread=False)
def citizen_app_config(request: Request[Any, Any, Any]) -> Response[bytes]:
    settings: Settings = request.app.state.services.settings
    return Response(
        msgspec.json.encode(citizen_login(settings)),
        media_type="application/json",
        # the app fetches it at each start, and its service worker keeps the last copy
        # for when the network is gone
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
