"""The citizen app's screens as people meet them: in their language, on a 360-px phone,
for every kind of right, and without WCAG 2.2 AA violations that axe-core can find."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from citizen_steps import QR_NAME, citizen_page, log_in, open_proof
from playwright.sync_api import Browser, Page, expect
from webstack import Stack, console_errors

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def change(stack: Stack, nrn: str, action: str, type_id: str = "social_tariff") -> None:
    with stack.api() as http:
        r = http.post(
            f"/v1/entitlements/{type_id}/{action}",
            json={"nrn": nrn, "reason": "a reason the citizen's app never shows"},
            headers={"Authorization": f"Bearer {stack.source_key}"},
        )
    assert r.status_code == 200, r.text


def no_violations(page: Page) -> None:
    results: Any = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    assert results.violations_count == 0, results.generate_report()


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{width}px wide: the page scrolls sideways"


@pytest.mark.parametrize(
    ("action", "words"),
    [
        ("suspend", "Suspended: you cannot use this right for now."),
        ("revoke", "Revoked: this right has ended."),
    ],
)
def test_suspended_and_revoked_rights_say_so_never_why(
    stack: Stack, browser: Browser, action: str, words: str
) -> None:
    nrn = stack.grant("social_tariff")
    change(stack, nrn, action)
    page = citizen_page(browser, stack)
    log_in(page, nrn)
    right = page.locator("#rights-list li").filter(has_text="Social tariff")
    expect(right).to_contain_text(words)
    expect(right.get_by_role("link", name="Show proof")).to_have_count(0)
    assert "reason" not in page.locator("main").inner_text()
    page.context.close()


def test_a_parking_card_proof_shows_its_end_date_and_no_code(
    stack: Stack, browser: Browser
) -> None:
    nrn = stack.grant("parking_card", card_number="1234567800")
    page = citizen_page(browser, stack)
    log_in(page, nrn)
    card = page.locator("#rights-list li").filter(has_text="Disability parking card")
    expect(card).to_contain_text("Card number 1234567800")
    open_proof(page, "Disability parking card")
    expect(page.locator("#time-left")).to_contain_text("Valid until")
    expect(page.locator("#code-box")).to_be_hidden()
    page.context.close()


def test_closing_a_proof_returns_to_its_button_and_a_broken_address_to_the_rights(
    stack: Stack, browser: Browser
) -> None:
    nrn = stack.grant("social_tariff")
    page = citizen_page(browser, stack)
    log_in(page, nrn)
    open_proof(page, "Social tariff")
    page.get_by_role("button", name="Close").click()
    # a keyboard or screen-reader user lands where they were, not at the top of the page
    right = page.locator("#rights-list li").filter(has_text="Social tariff")
    expect(right.get_by_role("link", name="Show proof")).to_be_focused()

    # an address no right can have (a cut-off link, %E0 is half a character): the rights
    page.goto("/citizen/#proof/%E0")
    expect(page.get_by_role("heading", name="My rights")).to_be_visible()
    expect(right.get_by_role("link", name="Show proof")).to_be_visible()
    assert page.evaluate("location.hash") == "#rights"
    page.context.close()


def test_the_browser_language_first_then_the_reader_s_choice(
    stack: Stack, browser: Browser
) -> None:
    nrn = stack.grant("social_tariff")
    page = citizen_page(browser, stack, locale="nl-BE")
    page.goto("/citizen/")
    expect(page.get_by_role("heading", name="Meld je aan om je rechten te zien")).to_be_visible()
    page.get_by_role("button", name="Aanmelden", exact=True).click()
    # the login page speaks the language the app asked for (ui_locales)
    page.get_by_label("Rijksregisternummer").fill(nrn)
    page.get_by_role("button", name="Aanmelden", exact=True).click()
    expect(page.locator("#rights-list li").first).to_contain_text("Sociaal tarief")
    expect(page.locator("#rights-list li").first).to_contain_text("Geldig tot")

    page.get_by_label("Taal").select_option("fr")
    expect(page.get_by_role("heading", name="Mes droits")).to_be_visible()
    expect(page.locator("#rights-list li").first).to_contain_text("Tarif social")
    assert page.evaluate("document.documentElement.lang") == "fr"
    page.reload()  # the choice stays on the device
    expect(page.get_by_role("link", name="Qui m'a contrôlé")).to_be_visible()
    page.context.close()


def test_every_screen_fits_a_360_px_phone_and_passes_axe(stack: Stack, browser: Browser) -> None:
    nrn = stack.grant("social_tariff")
    page = citizen_page(browser, stack)
    errors = console_errors(page)
    page.goto("/citizen/")
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    fits_the_phone(page)
    no_violations(page)

    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_label("National register number")).to_be_visible()
    fits_the_phone(page)
    no_violations(page)  # the development login page too

    page.goto("/citizen/")
    log_in(page, nrn)
    fits_the_phone(page)
    no_violations(page)

    open_proof(page, "Social tariff")
    fits_the_phone(page)
    no_violations(page)
    # the QR fills the phone's width (quiet zone included in the image), and the QR, the
    # code and the time left are all on the first screen, without scrolling
    qr = page.get_by_role("img", name=QR_NAME).bounding_box()
    code = page.locator("#code").bounding_box()
    assert qr and code
    assert qr["width"] >= 320 and qr["width"] == qr["height"]
    assert code["y"] + code["height"] <= 740
    font = page.locator("#code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 30  # large digits

    page.get_by_role("button", name="Close").click()
    page.get_by_role("link", name="Who checked me").click()
    expect(page.get_by_role("heading", name="Who checked me")).to_be_visible()
    fits_the_phone(page)
    no_violations(page)
    assert errors == []
    page.context.close()
