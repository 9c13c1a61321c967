"""The web apps' files as the service serves them (app/web/serving.py), on a build-like
folder made here: content types, caching, compression, CSP, and nothing else served."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from app.api.edge.middleware import Edge
from app.api.edge.overload import InFlight
from app.web import web_app_handlers


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    app_dir = tmp_path / "verifier"
    app_dir.mkdir()
    (app_dir / "index.html").write_text("<!doctype html><title>v</title>" + " " * 600)
    (app_dir / "index.html.gz").write_bytes(gzip.compress((app_dir / "index.html").read_bytes()))
    (app_dir / "main.ABCD1234.js").write_text("export {};")
    (app_dir / "zxing_reader.2EBDA08A.wasm").write_bytes(b"\0asm\1\0\0\0")
    (app_dir / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (app_dir / "manifest.webmanifest").write_text("{}")
    (tmp_path / "secret.txt").write_text("not served")
    app = Litestar(route_handlers=web_app_handlers(tmp_path))
    app.asgi_handler = Edge(app.asgi_handler, InFlight(100))  # as create_app does
    with TestClient(app) as c:
        yield c


def test_the_page_is_revalidated_and_sent_under_the_csp(client: TestClient[Litestar]) -> None:
    r = client.get("/verifier/", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers.get_list("content-security-policy") == [csp]  # ours, not the default
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]


def test_hashed_assets_are_immutable_and_wasm_is_application_wasm(
    client: TestClient[Litestar],
) -> None:
    js = client.get("/verifier/main.ABCD1234.js")
    wasm = client.get("/verifier/zxing_reader.2EBDA08A.wasm")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert wasm.headers["content-type"] == "application/wasm"
    for r in (js, wasm):
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    for fixed in ("sw.js", "manifest.webmanifest"):
        assert client.get(f"/verifier/{fixed}").headers["cache-control"] == "no-cache"
    assert (
        client.get("/verifier/manifest.webmanifest").headers["content-type"]
        == "application/manifest+json"
    )


def test_the_precompressed_twin_goes_to_browsers_that_accept_it(
    client: TestClient[Litestar],
) -> None:
    zipped = client.get("/verifier/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.text.startswith("<!doctype html>")  # the client inflated it
    refused = client.get("/verifier/", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_an_unchanged_file_is_a_304(client: TestClient[Litestar]) -> None:
    etag = client.get("/verifier/sw.js").headers["etag"]
    again = client.get("/verifier/sw.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_head_answers_like_get_without_a_body(client: TestClient[Litestar]) -> None:
    r = client.head("/verifier/main.ABCD1234.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.content == b""


def test_without_the_slash_the_app_redirects_to_its_folder(client: TestClient[Litestar]) -> None:
    r = client.get("/verifier", follow_redirects=False)
    assert r.status_code == 308
    assert r.headers["location"] == "/verifier/"


@pytest.mark.parametrize(
    "path", ["/verifier/secret.txt", "/verifier/..%2Fsecret.txt", "/verifier/index.html.gz"]
)
def test_only_the_built_files_are_served(client: TestClient[Litestar], path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert b"not served" not in r.content


def test_an_app_that_was_not_built_says_how_to_build_it(client: TestClient[Litestar]) -> None:
    r = client.get("/citizen/")
    assert r.status_code == 404
    assert "npm --prefix web run build" in r.json()["detail"]
