"""The verifier without network: after one visit online it opens from its service worker,
verifies proofs on the device with the keys and lists it stored, says how old the list
is, and answers CANNOT TELL once that list is past its validity."""

from __future__ import annotations

import time

from playwright.sync_api import Browser, expect
from verifier_app import check, open_verifier, wait_for_offline_data
from webstack import LIST_EXP_S, Stack


def test_offline_the_device_verifies_and_then_cannot_tell(stack: Stack, browser: Browser) -> None:
    number = f"{stack.rng.randrange(10**9, 10**10)}"
    nrn = stack.grant("parking_card", card_number=number)
    card = stack.proof(nrn, "parking_card")  # lives as long as the card
    context, page = open_verifier(browser, stack, stack.police_key)
    wait_for_offline_data(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    # the footer line is silent while its minutes move; going offline is announced once
    expect(page.locator("#net")).not_to_have_attribute("aria-live", "polite")
    expect(page.locator("#net-said")).to_have_text("")
    context.set_offline(True)
    expect(page.locator("#net-said")).to_contain_text("Offline")
    page.reload()  # the service worker answers: the app opens with no network
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#net")).to_contain_text("Offline — list")

    region = check(page, card["token"])
    expect(region).to_have_attribute("data-result", "valid")
    expect(region).to_contain_text(number)
    expect(region).to_contain_text("Offline — list")
    expect(region).to_contain_text("min old")

    # a card number is only a reference: it needs the service, and says so
    by_number = check(page, number)
    expect(by_number).to_have_attribute("data-result", "undetermined")
    expect(by_number).to_have_attribute("data-reason", "offline_needs_network")

    # the stored list is past its exp (the keys, kept a day, are not yet too old)
    page.clock.set_system_time(time.time() + LIST_EXP_S + 600)
    stale = check(page, card["token"])
    expect(stale).to_have_attribute("data-result", "undetermined")
    expect(stale).to_have_attribute("data-reason", "stale_status_list")
    expect(stale).to_contain_text("CANNOT TELL")
    expect(stale).not_to_contain_text(number)  # no holder data without a verdict

    # a clock set to before 2025 is not believed either
    page.clock.set_system_time(1_700_000_000)
    wrong = check(page, card["token"])
    expect(wrong).to_have_attribute("data-reason", "check_clock")
    context.close()


def test_a_revocation_reaches_the_device_with_the_next_list(stack: Stack, browser: Browser) -> None:
    nrn = stack.grant()
    proof = stack.proof(nrn)
    stack.revoke(nrn)
    stack.wait_until_listed(proof["token"], 1)
    context, page = open_verifier(browser, stack, stack.museum_key)
    wait_for_offline_data(page)
    context.set_offline(True)
    region = check(page, proof["token"])  # the fetch fails: the device decides
    expect(region).to_have_attribute("data-result", "invalid")
    expect(region).to_have_attribute("data-reason", "revoked")
    expect(region).to_contain_text("Offline — list")
    context.close()
