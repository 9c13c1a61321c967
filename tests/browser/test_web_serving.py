"""The built verifier app as a browser gets it: every file from the service itself,
under its CSP, with no console error, and its service worker installed."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser
from webstack import Stack, console_errors, new_context


def test_the_app_loads_from_the_service_alone_under_its_csp(stack: Stack, browser: Browser) -> None:
    context = new_context(browser, stack)
    page = context.new_page()
    errors = console_errors(page)
    origins: set[str] = set()
    page.on("request", lambda r: origins.add(r.url.split("/")[2]))
    page.goto("/verifier/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    assert origins == {stack.url.split("/")[2]}
    assert errors == []
    context.close()


def test_the_decoder_webassembly_is_served_as_wasm(stack: Stack) -> None:
    page = httpx.get(stack.url + "/verifier/").text
    with httpx.Client(base_url=stack.url) as http:
        sw = http.get("/verifier/sw.js").text
        wasm = next(n for n in sw.split('"') if n.endswith(".wasm"))
        r = http.get(f"/verifier/{wasm}", headers={"Accept-Encoding": "br"})
    assert r.headers["content-type"] == "application/wasm"
    assert r.headers["content-encoding"] == "br"
    assert "immutable" in r.headers["cache-control"]
    assert "wasm-unsafe-eval" in r.headers["content-security-policy"]
    assert "<script" in page and "<script>" not in page  # no inline script


def test_chromium_finds_the_app_installable(stack: Stack, browser: Browser) -> None:
    context = new_context(browser, stack)
    page = context.new_page()
    page.goto("/verifier/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    cdp = context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [] and manifest["url"].endswith("/verifier/manifest.webmanifest")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # a Playwright context is an incognito profile, where nothing installs; nothing else
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
    context.close()
