"""Nothing about a holder outlives its verdict on the counter's screen: once the verdict
has been cleared (the next scan, or two minutes of nobody checking), no later action
brings the holder's name or right back."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
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
