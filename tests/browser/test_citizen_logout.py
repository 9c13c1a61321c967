"""Logging out leaves nothing of the person in the tab, not even a proof whose answer
arrives after the logout (the next person on a shared phone must never see it)."""

from __future__ import annotations

from citizen_steps import citizen_page, log_in
from playwright.sync_api import Browser, Page, Route, expect
from webstack import Stack


def _until_held(page: Page, held: list[Route]) -> None:
    """Until the held request arrived (page.route sees it: service workers blocked)."""
    for _ in range(200):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the request never came")


def test_a_proof_answered_after_logout_is_not_kept(stack: Stack, browser: Browser) -> None:
    page = citizen_page(browser, stack, service_workers="block")
    log_in(page, stack.grant("social_tariff"))
    held: list[Route] = []
    page.route("**/v1/me/proofs", lambda route: held.append(route))  # answered later
    page.get_by_role("link", name="Show proof").first.click()
    page.wait_for_function("() => document.body.dataset.screen === 'proof'")
    _until_held(page, held)
    page.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    held[0].continue_()  # the service answers now, with the person's proof
    page.wait_for_timeout(1500)
    stored = page.evaluate("() => Object.keys(sessionStorage)")
    assert stored == [], stored
    page.context.close()


def test_who_checked_me_answered_after_logout_is_not_kept(stack: Stack, browser: Browser) -> None:
    page = citizen_page(browser, stack, service_workers="block")
    log_in(page, stack.grant("social_tariff"))
    held: list[Route] = []
    page.route("**/v1/me/verifications", lambda route: held.append(route))
    page.get_by_role("link", name="Who checked me").click()
    _until_held(page, held)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    held[0].continue_()
    page.wait_for_timeout(1500)
    assert page.evaluate("() => Object.keys(sessionStorage)") == []
    assert page.locator("#checks-list li").count() == 0
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    page.context.close()
