"""The header policy itself (`app.api.edge.hygiene`), on bare ASGI start messages."""

from __future__ import annotations

from typing import Any

from app.api.edge.hygiene import CONTENT_SECURITY_POLICY, Hygiene

POLICY = Hygiene({"/.well-known/jwks.json"})


def _start(*headers: tuple[bytes, bytes]) -> Any:
    return {"type": "http.response.start", "status": 200, "headers": list(headers)}


def _headers(message: Any) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in message["headers"]}


def _scope(path: str, method: str = "GET") -> Any:
    return {"type": "http", "method": method, "path": path, "path_template": path}


def test_defaults_nosniff_and_no_store_without_touching_the_original() -> None:
    original = _start((b"content-type", b"application/json"))
    out = _headers(POLICY.start(_scope("/v1/verify"), original))
    assert out["x-content-type-options"] == "nosniff"
    assert out["cache-control"] == "no-store"
    assert "content-security-policy" not in out
    assert original["headers"] == [(b"content-type", b"application/json")]  # sent again later


def test_an_answers_own_caching_and_policy_are_kept() -> None:
    out = _headers(
        POLICY.start(
            _scope("/page"),
            _start(
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"public, max-age=60"),
                (b"content-security-policy", b"default-src 'none'"),
            ),
        )
    )
    assert out["cache-control"] == "public, max-age=60"
    assert out["content-security-policy"] == "default-src 'none'"


def test_html_gets_the_same_origin_policy() -> None:
    out = _headers(POLICY.start(_scope("/page"), _start((b"content-type", b"text/html"))))
    assert out["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_cors_only_for_public_templates_and_allow_names_head() -> None:
    public = _headers(POLICY.start(_scope("/.well-known/jwks.json", "OPTIONS"), _start()))
    assert public["access-control-allow-origin"] == "*"
    assert public["access-control-allow-methods"] == "GET, HEAD"
    private = POLICY.start(_scope("/v1/verify"), _start((b"allow", b"GET, OPTIONS")))
    assert not any(k.startswith(b"access-control") for k, _ in private["headers"])
    assert _headers(private)["allow"] == "GET, HEAD, OPTIONS"
