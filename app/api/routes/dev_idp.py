"""The development identity provider over HTTP, under `{issuer}/dev-idp/`.

Mounted only when `STATUSPASS_DEV_IDP=1` (which `load_settings` refuses in production),
and kept out of the OpenAPI document: it is no part of the service's API. The protocol
rules live in `app.auth.dev_flow`; this module only moves parameters in and out.

Its tokens are checked by `app.auth` against the real clock (PyJWT), so they are
minted at the real time too, not at the service's injectable clock.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, Router, get, post, route
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from app.auth.dev_codes import PendingCodes
from app.auth.dev_flow import DevProvider
from app.auth.dev_keys import DevSigner
from app.auth.dev_page import DEMO_SEED, demo_citizens, error_page, login_page, pick_lang
from app.auth.dev_request import AuthorizationRefused
from app.config import Settings
from app.errors import InvalidInput, OAuthError
from app.tokens import validate_nrn

__all__ = ["dev_idp_router", "open_dev_idp"]

_FORM = "application/x-www-form-urlencoded"


def _provider(request: Request[Any, Any, Any]) -> DevProvider:
    provider: DevProvider = request.app.state.dev_idp
    return provider


def _page_headers(provider: DevProvider) -> dict[str, str]:
    # The form posts to this origin and is then redirected to the client's registered
    # URI: Chromium applies form-action to that redirect too, so it is allowed by name.
    target = urlsplit(provider.redirect_uri)
    return {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; "
            f"form-action 'self' {target.scheme}://{target.netloc}"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _html(provider: DevProvider, body: str, status: int = 200) -> Response[str]:
    return Response(
        body,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers=_page_headers(provider),
    )


def _redirect(url: str) -> Redirect:
    # 303: the browser follows with a GET, never re-posting the login form (RFC 9110)
    return Redirect(url, status_code=303, headers={"Cache-Control": "no-store"})


def _refused(request: Request[Any, Any, Any], refused: AuthorizationRefused) -> Any:
    provider = _provider(request)
    url = provider.refused_url(refused)
    if url is not None:
        return _redirect(url)
    lang = pick_lang(None, request.headers.get("accept-language", ""))
    return _html(provider, error_page(lang, refused.description), 400)


async def _form_pairs(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != _FORM:
        raise HTTPException(status_code=415, detail=f"send the form as {_FORM}")
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


@get("/.well-known/openid-configuration", sync_to_thread=False)
def discovery(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    return Response(
        _provider(request).discovery(),
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"},
    )


@get("/jwks.json", sync_to_thread=False)
def jwks(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    return Response(
        _provider(request).signer.jwks(),
        media_type="application/jwk-set+json",
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"},
    )


@route("/authorize", http_method=["GET", "POST"])
async def authorize(request: Request[Any, Any, Any]) -> Any:
    """The authorization endpoint: GET and POST alike (OIDC Core 3.1.2.1)."""
    provider = _provider(request)
    if request.method == "POST":
        pairs = await _form_pairs(request)
    else:
        pairs = list(request.query_params.multi_items())
    try:
        req = provider.check_authorization(pairs)
    except AuthorizationRefused as refused:
        return _refused(request, refused)
    lang = pick_lang(req.ui_locales, request.headers.get("accept-language", ""))
    return _html(provider, login_page(req, lang, demo_citizens(random.Random(DEMO_SEED))))


@post("/login", status_code=200)
async def login(request: Request[Any, Any, Any]) -> Any:
    """The login form's answer: back to the client with a code, or the form again."""
    provider = _provider(request)
    pairs = await _form_pairs(request)
    own = {"nrn", "pick", "action"}
    try:
        req = provider.check_authorization([(k, v) for k, v in pairs if k not in own])
    except AuthorizationRefused as refused:
        return _refused(request, refused)
    form = {k: v for k, v in pairs if k in own}
    if form.get("action") == "cancel":
        return _redirect(provider.deny(req))
    typed = form.get("nrn", "").strip()
    chosen = typed or form.get("pick", "")
    lang = pick_lang(req.ui_locales, request.headers.get("accept-language", ""))
    citizens = demo_citizens(random.Random(DEMO_SEED))
    if not chosen:
        return _html(provider, login_page(req, lang, citizens, error="missing"), 400)
    try:
        nrn = validate_nrn(chosen)
    except InvalidInput:
        page = login_page(req, lang, citizens, error="invalid", typed=typed[:20])
        return _html(provider, page, 400)
    return _redirect(provider.approve(req, nrn, datetime.now(UTC)))


@post("/token", status_code=200)
async def token(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The token endpoint (RFC 6749 4.1.3); errors answer in RFC 6749 5.2's format."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != _FORM:
        raise OAuthError("invalid_request", f"send the request as {_FORM}")
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    answer = _provider(request).exchange(pairs, datetime.now(UTC))
    return Response(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@get("/login.css", sync_to_thread=False)
def stylesheet() -> Response[bytes]:
    css = resources.files("app.auth").joinpath("login.css").read_bytes()
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})


def dev_idp_router() -> Router:
    """The dev IdP's routes; they use the provider `open_dev_idp` puts in the state."""
    return Router(
        path="/dev-idp",
        route_handlers=[discovery, jwks, authorize, login, token, stylesheet],
        include_in_schema=False,
    )


def open_dev_idp(settings: Settings) -> DevProvider:
    """The provider, with its key and its pending codes' file in the keys directory."""
    return DevProvider(settings, DevSigner(settings), PendingCodes(settings.keys_dir))
