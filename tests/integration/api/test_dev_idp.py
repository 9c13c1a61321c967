"""The development identity provider: OpenID Connect authorization code flow with PKCE.

Over HTTP against the real app; the rules are RFC 6749 (OAuth 2.0), RFC 7636 (PKCE,
S256 only), OpenID Connect Core and Discovery, RFC 9207 (`iss` in the response).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.auth.dev_flow import CODE_LIFETIME_S
from app.config import Settings
from tests.integration.api.conftest import ISSUER, Api, FrozenClock, make_settings

DEV = "/dev-idp"
CLIENT_ID = "statuspass-citizen"
REDIRECT = f"{ISSUER}/citizen/"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def auth_params(challenge: str, **over: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st-" + secrets.token_urlsafe(8),
        "nonce": "n-" + secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def login(api: Api, nrn: str, params: dict[str, str]) -> str:
    """Log in on the form; return the Location the browser is sent to."""
    r = await api.http.post(f"{DEV}/login", data={**params, "nrn": nrn}, follow_redirects=False)
    assert r.status_code == 303, r.text
    location: str = r.headers["location"]
    return location


async def exchange(api: Api, **form: str) -> Any:
    return await api.http.post(f"{DEV}/token", data=form)


async def code_for(api: Api, nrn: str) -> tuple[str, str, dict[str, str]]:
    verifier, challenge = pkce()
    params = auth_params(challenge)
    code = query(await login(api, nrn, params))["code"]
    return code, verifier, params


def token_form(code: str, verifier: str, **over: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    form.update(over)
    return form


async def test_discovery_document_names_the_endpoints_and_s256(api: Api) -> None:
    r = await api.http.get(f"{DEV}/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == f"{ISSUER}/dev-idp"
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks.json"),
    ]:
        assert doc[name] == f"{ISSUER}/dev-idp{path}"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["token_endpoint_auth_methods_supported"] == ["none"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert r.headers["access-control-allow-origin"] == "*"
    keys = (await api.http.get(f"{DEV}/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == ["dev-idp"] and "d" not in keys[0]


async def test_login_page_is_marked_and_safe(api: Api) -> None:
    _, challenge = pkce()
    r = await api.http.get(f"{DEV}/authorize", params=auth_params(challenge, state="<x>"))
    assert r.status_code == 200
    html = r.text
    assert "Development only" in html and "not for production" in html
    assert '<label for="nrn">National register number</label>' in html
    assert ">Log in</button>" in html
    # no script, no inline style; the state is carried escaped
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert 'value="&lt;x&gt;"' in html
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["cache-control"] == "no-store"
    css = await api.http.get(f"{DEV}/login.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_login_page_speaks_the_language_asked(api: Api) -> None:
    _, challenge = pkce()
    r = await api.http.get(f"{DEV}/authorize", params=auth_params(challenge, ui_locales="fr"))
    assert "Numéro de registre national" in r.text and 'lang="fr"' in r.text
    r = await api.http.get(
        f"{DEV}/authorize", params=auth_params(challenge), headers={"Accept-Language": "nl-BE"}
    )
    assert "Rijksregisternummer" in r.text and ">Aanmelden</button>" in r.text


async def test_the_page_offers_the_demo_citizens(api: Api) -> None:
    import random

    from app.auth.dev_page import DEMO_SEED, demo_citizens

    _, challenge = pkce()
    html = (await api.http.get(f"{DEV}/authorize", params=auth_params(challenge))).text
    picks = re.findall(r'name="pick" id="pick-\d" value="(\d{11})"', html)
    assert picks == [nrn for _, _, nrn in demo_citizens(random.Random(DEMO_SEED))]


async def test_full_flow_gives_tokens_the_api_accepts(api: Api, source: str) -> None:
    nrn = api.nrn()
    await api.grant(source, "social_tariff", nrn)
    verifier, challenge = pkce()
    params = auth_params(challenge)
    location = await login(api, nrn, params)
    assert location.startswith(REDIRECT + "?")
    back = query(location)
    assert set(back) == {"code", "state", "iss"}
    assert back["state"] == params["state"] and back["iss"] == f"{ISSUER}/dev-idp"
    assert nrn not in location
    r = await exchange(api, **token_form(back["code"], verifier))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_claims["iss"] == f"{ISSUER}/dev-idp" and id_claims["aud"] == CLIENT_ID
    assert id_claims["nonce"] == params["nonce"] and "nrn" not in id_claims
    assert id_claims["exp"] > id_claims["iat"] and "auth_time" in id_claims
    # the access token is what the API takes; the ID token (audience: the app) is not
    ok = await api.http.get(
        "/v1/me/entitlements", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200
    assert [e["type"] for e in ok.json()["entitlements"]] == ["social_tariff"]
    refused = await api.http.get(
        "/v1/me/entitlements", headers={"Authorization": f"Bearer {body['id_token']}"}
    )
    assert refused.status_code == 401
    # the same person logs in again: the same subject
    code2, verifier2, _ = await code_for(api, nrn)
    again = (await exchange(api, **token_form(code2, verifier2))).json()
    sub2 = jwt.decode(again["id_token"], options={"verify_signature": False})["sub"]
    assert sub2 == id_claims["sub"]


async def test_a_picked_test_citizen_logs_in(api: Api) -> None:
    _, challenge = pkce()
    params = auth_params(challenge)
    nrn = api.nrn()
    r = await api.http.post(
        f"{DEV}/login", data={**params, "nrn": "", "pick": nrn}, follow_redirects=False
    )
    assert r.status_code == 303 and "code" in query(r.headers["location"])


async def test_a_code_is_single_use(api: Api) -> None:
    code, verifier, _ = await code_for(api, api.nrn())
    assert (await exchange(api, **token_form(code, verifier))).status_code == 200
    second = await exchange(api, **token_form(code, verifier))
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert second.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"code_verifier": "x" * 43}, "invalid_grant"),
        ({"redirect_uri": f"{ISSUER}/citizen/evil"}, "invalid_grant"),
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"code_verifier": "short"}, "invalid_request"),
        ({"code_verifier": ""}, "invalid_request"),
    ],
)
async def test_token_requests_that_do_not_match_are_refused(
    api: Api, over: dict[str, str], error: str
) -> None:
    code, verifier, _ = await code_for(api, api.nrn())
    r = await exchange(api, **token_form(code, verifier, **over))
    assert r.status_code == 400 and r.json()["error"] == error, r.text


async def test_a_wrong_verifier_burns_the_code(api: Api) -> None:
    code, verifier, _ = await code_for(api, api.nrn())
    wrong = await exchange(api, **token_form(code, pkce()[0]))
    assert wrong.json()["error"] == "invalid_grant"
    # the right verifier afterwards gets nothing: a code cannot be tried twice
    assert (await exchange(api, **token_form(code, verifier))).json()["error"] == "invalid_grant"


async def test_token_endpoint_takes_forms_only_and_each_parameter_once(api: Api) -> None:
    code, verifier, _ = await code_for(api, api.nrn())
    r = await api.http.post(f"{DEV}/token", json=token_form(code, verifier))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    body = "&".join(f"{k}={v}" for k, v in token_form(code, verifier).items()) + "&code=x"
    r = await api.http.post(
        f"{DEV}/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_an_expired_code_is_refused(api: Api) -> None:
    from app.auth.dev_request import AuthorizationRequest
    from app.errors import OAuthError

    provider = api.app.state.dev_idp
    verifier, challenge = pkce()
    req = AuthorizationRequest(
        client_id=CLIENT_ID, redirect_uri=REDIRECT, scope="openid", code_challenge=challenge
    )
    t0 = datetime.now(UTC)
    code = query(provider.approve(req, api.nrn(), t0))["code"]
    late = t0 + timedelta(seconds=CODE_LIFETIME_S + 1)
    with pytest.raises(OAuthError) as refused:
        provider.exchange(token_form(code, verifier).items(), late)
    assert refused.value.error == "invalid_grant"


def test_a_code_issued_by_one_worker_is_redeemed_once_by_another(tmp_path: Path) -> None:
    from app.auth.dev_codes import Grant, PendingCodes

    one, other = PendingCodes(str(tmp_path)), PendingCodes(str(tmp_path))
    grant = Grant(
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT,
        code_challenge="c" * 43,
        nrn="85073003328",
        nonce=None,
        scope="openid",
        auth_time=1000,
        expires=1060,
    )
    code = one.put(grant, 1000)
    assert other.take(code, 1001) == grant
    assert one.take(code, 1001) is None and other.take(code, 1001) is None
    one.close()
    other.close()


async def test_codes_at_rest_hold_no_nrn(api: Api) -> None:
    nrn = api.nrn()
    await code_for(api, nrn)
    files = _code_files(Path(api.settings.keys_dir))
    assert files
    for f in files:
        assert nrn.encode() not in f.read_bytes()
        assert f.stat().st_mode & 0o077 == 0


def _code_files(keys_dir: Path) -> list[Path]:
    return list(keys_dir.glob("dev-idp-codes*"))


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
        ({"request": "eyJ..."}, "request_not_supported"),
    ],
)
async def test_bad_requests_go_back_to_the_client_with_the_error(
    api: Api, over: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce()
    params = auth_params(challenge, **over)
    r = await api.http.get(f"{DEV}/authorize", params=params, follow_redirects=False)
    assert r.status_code == 303
    back = query(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT + "?")
    assert back["error"] == error and back["state"] == params["state"]
    assert back["iss"] == f"{ISSUER}/dev-idp"


@pytest.mark.parametrize(
    "over",
    [
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": f"{ISSUER}/citizen"},  # exact match: not even a slash less
        {"redirect_uri": None},
        {"client_id": "evil"},
        {"client_id": None},
    ],
)
async def test_unknown_client_or_redirect_is_told_never_redirected(
    api: Api, over: dict[str, str | None]
) -> None:
    _, challenge = pkce()
    r = await api.http.get(
        f"{DEV}/authorize", params=auth_params(challenge, **over), follow_redirects=False
    )
    assert r.status_code == 400 and "location" not in r.headers
    assert "cannot be served" in r.text
    # the login form's answer follows the same rule
    form = {**auth_params(challenge, **over), "nrn": api.nrn()}
    r = await api.http.post(f"{DEV}/login", data=form, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers


async def test_a_parameter_twice_is_refused(api: Api) -> None:
    _, challenge = pkce()
    params = [*auth_params(challenge).items(), ("scope", "openid")]
    r = await api.http.get(f"{DEV}/authorize", params=params, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers


async def test_cancel_answers_access_denied(api: Api) -> None:
    _, challenge = pkce()
    params = auth_params(challenge)
    r = await api.http.post(
        f"{DEV}/login", data={**params, "action": "cancel"}, follow_redirects=False
    )
    assert r.status_code == 303
    back = query(r.headers["location"])
    assert back["error"] == "access_denied" and back["state"] == params["state"]
    assert "code" not in back


@pytest.mark.parametrize("nrn", ["12345678901", "abc", ""])
async def test_an_invalid_nrn_shows_the_form_again_with_the_error(api: Api, nrn: str) -> None:
    _, challenge = pkce()
    params = auth_params(challenge)
    r = await api.http.post(f"{DEV}/login", data={**params, "nrn": nrn}, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers
    assert 'aria-invalid="true"' in r.text and 'id="nrn-error"' in r.text
    assert f'value="{params["state"]}"' in r.text  # the request carries on


async def test_without_the_dev_idp_there_is_no_login_page(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dev_idp=False)
    async with AsyncTestClient(app=create_app(settings, clock=FrozenClock())) as http:
        for path in ("/.well-known/openid-configuration", "/authorize", "/token"):
            r = await http.get(f"{DEV}{path}")
            assert r.status_code in {404, 405}
        assert (await http.get("/citizen/config.json")).json()["issuer"] is None


async def test_citizen_app_config_names_the_dev_idp(api: Api) -> None:
    r = await api.http.get("/citizen/config.json")
    assert r.status_code == 200
    assert r.json() == {
        "issuer": f"{ISSUER}/dev-idp",
        "client_id": CLIENT_ID,
        "scope": "openid",
        "redirect_uri": REDIRECT,
        "api_token": "access_token",
        "development": True,
    }


@pytest.mark.parametrize(
    ("audience", "api_token"), [("statuspass-api", "access_token"), ("app-1", "id_token")]
)
async def test_citizen_app_config_names_the_configured_provider(
    tmp_path: Path, audience: str, api_token: str
) -> None:
    from app.auth.dev_keys import dev_idp_jwks

    jwks = tmp_path / "jwks.json"  # any public key will do: no token is checked here
    jwks.write_text(json.dumps(dev_idp_jwks(str(tmp_path / "idp"))))
    settings: Settings = make_settings(
        tmp_path,
        oidc_issuer="https://idp.example.be",
        oidc_audience=audience,
        oidc_jwks=str(jwks),
        oidc_client_id="app-1",
        oidc_scope="openid egovnrn",
    )
    async with AsyncTestClient(app=create_app(settings, clock=FrozenClock())) as http:
        config = (await http.get("/citizen/config.json")).json()
        citizen_csp = (await http.get("/citizen/")).headers["content-security-policy"]
        verifier_csp = (await http.get("/verifier/")).headers["content-security-policy"]
    assert config["issuer"] == "https://idp.example.be" and config["client_id"] == "app-1"
    assert config["scope"] == "openid egovnrn" and config["api_token"] == api_token
    assert config["development"] is False
    # the app may call the provider (discovery, token endpoint), and only that app
    assert "connect-src 'self' https://idp.example.be;" in citizen_csp
    assert "connect-src 'self';" in verifier_csp


async def test_the_dev_idp_needs_no_other_origin(api: Api) -> None:
    csp = (await api.http.get("/citizen/")).headers["content-security-policy"]
    assert "connect-src 'self';" in csp and "default-src 'self'" in csp
