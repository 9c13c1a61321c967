"""Nothing about a holder outlives its verdict on the counter's screen: once the verdict
has been cleared (the next scan, or two minutes of nobody checking), no later action
brings the holder's name or right back."""

from __future__ import annotations

from playwright.sync_api import Browser, Route, expect
from verifier_app import check, open_verifier
from webstack import Stack


def test_a_cleared_verdict_does_not_come_back_with_a_language_switch(
    stack: Stack, browser: Browser
) -> None:
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack)
    page.clock.install()
    page.reload()
    page.wait_for_selector("body[data-ready]")
    page.locator("#api-key").fill(stack.museum_key)
    page.locator("#api-key").press("Enter")
    region = check(page, proof["token"])
    expect(region).to_have_attribute("data-result", "valid")
    holder = region.locator(".holder").inner_text()
    assert holder
    page.clock.fast_forward("02:01")  # the verdict's two minutes on screen are over
    expect(page.locator("#verdict")).not_to_have_attribute("data-result", "valid")
    page.get_by_label("Language").select_option("fr")
    expect(page.locator("#verdict")).to_have_text("Prêt à contrôler.")
    expect(page.locator("#verdict")).not_to_contain_text(holder)
    assert page.locator("#verdict").get_attribute("data-result") is None
    context.close()


def test_a_late_answer_for_the_previous_proof_never_shows_for_the_next(
    stack: Stack, browser: Browser
) -> None:
    first = stack.proof(stack.grant())
    nrn = stack.grant()
    second = stack.proof(nrn)
    stack.revoke(nrn)
    # page.route sees the page's requests only with service workers blocked
    context, page = open_verifier(browser, stack, stack.museum_key, service_workers="block")
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/v1/verify", hold_the_first)
    page.locator("#input").fill(first["code"])
    page.locator("#check-submit").click()
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the first check never reached the service"
    region = check(page, second["code"])  # the next holder, while the first one hangs
    expect(region).to_have_attribute("data-reason", "revoked")
    held[0].continue_()
    page.wait_for_timeout(1500)
    expect(page.locator("#verdict")).to_have_attribute("data-reason", "revoked")
    context.close()
