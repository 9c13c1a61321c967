"""The verifier for every counter: in its language, on a 360-px phone, with the keyboard
alone, and readable (WCAG 2.2 AA contrast; never colour alone)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, Page, expect
from verifier_app import check, open_verifier, set_up, type_like_a_scanner, verdict
from webstack import Stack

LANGUAGES = {
    # browser language: (field label, word for valid, the service's label of the right)
    "nl-BE": ("Code of token", "GELDIG", "Sociaal tarief"),
    "fr-BE": ("Code ou jeton", "VALABLE", "Tarif social"),
    "de-BE": ("Code oder Token", "GÜLTIG", "Sozialtarif"),
    "en-GB": ("Code or token", "VALID", "Social tariff"),
}


@pytest.mark.parametrize("locale", LANGUAGES)
def test_the_counter_reads_the_verdict_in_its_language(
    stack: Stack, browser: Browser, locale: str
) -> None:
    label, word, right = LANGUAGES[locale]
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack, locale=locale)
    page.locator("#api-key").fill(stack.museum_key)
    page.locator("#api-key").press("Enter")
    expect(page.get_by_label(label)).to_be_focused()
    assert page.evaluate("() => document.documentElement.lang") == locale[:2]
    if locale == "nl-BE":
        assert page.title() == "Statuspass-controle"
    type_like_a_scanner(page, proof["token"])
    region = verdict(page)
    expect(region.locator(".verdict-word")).to_have_text(word)
    expect(region).to_contain_text(right)
    context.close()


def test_switching_language_redraws_the_page_and_is_remembered(
    stack: Stack, browser: Browser
) -> None:
    nrn = stack.grant()
    proof = stack.proof(nrn)
    stack.revoke(nrn)
    context, page = open_verifier(browser, stack, stack.museum_key)
    region = check(page, proof["token"])
    expect(region).to_contain_text("The right has been withdrawn.")
    page.get_by_label("Language").select_option("fr")
    expect(region.locator(".verdict-word")).to_have_text("NON VALABLE")
    expect(region).to_contain_text("Le droit a été retiré.")
    expect(page.get_by_role("button", name="Oublier cet appareil")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Code ou jeton")).to_be_visible()
    context.close()


def _contrast(page: Page) -> float:
    """WCAG contrast ratio of the verdict word against its band."""
    ratio: float = page.evaluate(
        """() => {
          const lum = (css) => {
            const [r, g, b] = css.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((c) => {
              c /= 255;
              return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
            });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const word = document.querySelector('.verdict-word');
          const band = document.querySelector('.verdict-head');
          const a = lum(getComputedStyle(word).color);
          const b = lum(getComputedStyle(band).backgroundColor);
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }"""
    )
    return ratio


def test_on_a_360_px_phone_each_verdict_fits_and_meets_aa_contrast(
    stack: Stack, browser: Browser
) -> None:
    nrn = stack.grant()
    valid = stack.proof(nrn)
    context, page = open_verifier(
        browser, stack, stack.museum_key, viewport={"width": 360, "height": 740}
    )
    seen: dict[str, float] = {}
    revoked_nrn = stack.grant()
    revoked = stack.proof(revoked_nrn)
    stack.revoke(revoked_nrn)
    for text in (valid["token"], revoked["token"]):
        check(page, text)
        seen[str(verdict(page).get_attribute("data-result"))] = _contrast(page)
    context.set_offline(True)
    check(page, "1234567890")  # a card number offline: cannot tell
    seen[str(verdict(page).get_attribute("data-result"))] = _contrast(page)
    assert set(seen) == {"valid", "invalid", "undetermined"}
    assert all(ratio >= 4.5 for ratio in seen.values()), seen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    box = verdict(page).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    # words and an icon, never the colour alone
    expect(verdict(page).locator(".verdict-word")).to_have_text("CANNOT TELL")
    expect(verdict(page).locator(".verdict-icon svg")).to_have_count(1)
    context.close()


def test_keyboard_only_from_setup_to_verdict_to_forgetting(stack: Stack, browser: Browser) -> None:
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack)
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(stack.museum_key)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Code or token")).to_be_focused()
    page.keyboard.type(proof["token"])
    page.keyboard.press("Enter")
    expect(verdict(page)).to_have_attribute("data-result", "valid")
    expect(page.get_by_label("Code or token")).to_be_focused()
    # Tab reaches every control in order, and Enter works them
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => document.activeElement.id"))
    assert order == ["check-submit", "scan", "refresh", "forget"]
    page.once("dialog", lambda d: d.accept())
    page.keyboard.press("Enter")
    expect(page.get_by_label("API key")).to_be_focused()
    context.close()


def test_a_device_set_up_with_a_counter_key_names_the_counter(
    stack: Stack, browser: Browser
) -> None:
    museum = stack.service.cli(
        "clients", "add", "--name", "Musée", "--role", "verifier",
        "--types", "social_tariff", "--label", "Guichet 1", "--json",
    )  # fmt: skip
    first = json.loads(museum.stdout)
    added = stack.service.cli("clients", "add-key", first["id"], "--label", "Guichet 2", "--json")
    second = json.loads(added.stdout)
    context, page = open_verifier(browser, stack)
    set_up(page, second["api_key"])
    expect(page.locator("#device")).to_have_text("Musée · Guichet 2")
    context.close()


def test_switching_language_also_renames_the_right_on_screen(
    stack: Stack, browser: Browser
) -> None:
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack, stack.museum_key)
    region = check(page, proof["token"])
    expect(region).to_contain_text("Social tariff")
    page.get_by_label("Language").select_option("nl")
    expect(region.locator(".verdict-word")).to_have_text("GELDIG")
    expect(region).to_contain_text("Sociaal tarief")
    context.close()
