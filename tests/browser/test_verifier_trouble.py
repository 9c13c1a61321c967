"""When the service says no for reasons of its own: the counter is told what to do next,
never left at a dead end or given a reason that is not the real one."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Browser, Route, expect
from verifier_app import check, open_verifier, wait_for_offline_data
from webstack import Stack, _json

KEY_CACHE_S = 5.0  # app.domain.clients.Authenticator's ttl_s


def _overloaded(route: Route) -> None:
    # what app/api/overload.py answers past its cap, to any request
    route.fulfill(
        status=429,
        headers={"Content-Type": "application/problem+json", "Retry-After": "1"},
        body=json.dumps(
            {
                "type": "https://statuspass.invalid/problems/overloaded",
                "title": "Too many requests",
                "status": 429,
                "detail": "the service is at capacity; retry shortly",
            }
        ),
    )


def test_a_revoked_device_key_leads_back_to_setting_up(stack: Stack, browser: Browser) -> None:
    added = _json(
        stack.service.cli(
            "clients", "add", "--name", "Library", "--role", "verifier",
            "--types", "social_tariff", "--json",
        ).stdout
    )  # fmt: skip
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack, str(added["api_key"]))
    stack.service.cli("clients", "revoke", str(added["id"]))
    time.sleep(KEY_CACHE_S + 0.5)  # a running worker trusts a key it checked for this long
    page.locator("#input").fill(proof["code"])
    page.locator("#check-submit").click()
    # straight to the field for the new key, saying why; the dead key is gone
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.locator("#setup-error")).to_contain_text("no longer accepted")
    expect(page.get_by_label("Code or token")).to_be_hidden()
    page.reload()
    expect(page.get_by_label("API key")).to_be_visible()
    context.close()


def test_an_overloaded_service_is_busy_not_a_typo_and_proofs_are_checked_on_the_device(
    stack: Stack, browser: Browser
) -> None:
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack, stack.museum_key, service_workers="block")
    wait_for_offline_data(page)
    page.route("**/v1/verify", _overloaded)
    region = check(page, proof["code"])
    expect(region).to_have_attribute("data-result", "undetermined")
    expect(region).to_have_attribute("data-reason", "busy")
    expect(region).not_to_contain_text("unknown codes")
    expect(region).to_contain_text("wait 1 second and try again")  # never "1 seconds"
    # a QR proof carries its own evidence: the device checks it with what it stored
    region = check(page, proof["token"])
    expect(region).to_have_attribute("data-result", "valid")
    expect(region).to_contain_text("Offline")
    context.close()
