"""The proof screen over time: renewed before it expires while open (the page's clock
moved with Playwright's clock API), and kept without network until its own expiry."""

from __future__ import annotations

from citizen_steps import QR_NAME, citizen_page, log_in, open_proof, qr_text, shot, verify
from playwright.sync_api import Browser, expect
from webstack import Stack


def test_the_proof_is_renewed_before_it_expires(stack: Stack, browser: Browser) -> None:
    nrn = stack.grant("social_tariff")
    page = citizen_page(browser, stack)
    page.clock.install()
    log_in(page, nrn)
    open_proof(page, "Social tariff")
    first = qr_text(page)
    first_code = page.locator("#code").inner_text()

    # three of the five minutes later: still the same proof
    page.clock.fast_forward("03:00")
    expect(page.locator("#time-left")).to_contain_text("Time left: 1:")
    assert qr_text(page) == first

    # a minute before it expires, a new one replaces it
    page.clock.fast_forward("01:05")
    expect(page.locator("#code")).not_to_have_text(first_code)
    expect(page.locator("#time-left")).to_contain_text("Time left: 4:")
    second = qr_text(page)
    assert second != first
    assert verify(stack, second)["result"] == "valid"
    page.context.close()


def test_offline_the_last_proof_stays_until_it_expires(stack: Stack, browser: Browser) -> None:
    nrn = stack.grant("social_tariff")
    page = citizen_page(browser, stack)
    page.clock.install()
    log_in(page, nrn)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    open_proof(page, "Social tariff")
    token = qr_text(page)

    page.context.set_offline(True)
    page.reload()  # the app comes from its service worker, the proof from this tab
    expect(page.get_by_role("img", name=QR_NAME)).to_be_visible()
    page.wait_for_function("() => document.getElementById('qr').complete")
    assert qr_text(page) == token
    status = page.get_by_role("status").filter(has_text="No connection")
    expect(status).to_contain_text("This proof stays valid until")
    shot(page, "proof-offline")

    # past the time it would have been renewed: no network, so still the same proof
    page.clock.fast_forward("04:30")
    assert qr_text(page) == token
    # past its expiry: no QR any more, and a plain word why
    page.clock.fast_forward("01:00")
    expect(page.get_by_role("img", name=QR_NAME)).to_be_hidden()
    expired = "This proof has expired. Showing a new one needs a connection."
    expect(page.get_by_role("status").filter(has_text=expired)).to_be_visible()
    shot(page, "proof-expired")

    # the network is back: a new proof, without a touch
    page.context.set_offline(False)
    expect(page.get_by_role("img", name=QR_NAME)).to_be_visible()
    page.wait_for_function("() => document.getElementById('qr').complete")
    fresh = qr_text(page)
    assert fresh != token and verify(stack, fresh)["result"] == "valid"
    page.context.close()
