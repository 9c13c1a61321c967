"""Driving the verifier app as a counter clerk or a police officer would (shared by the
browser tests and bench/verifier_web.py)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from webstack import Stack, new_context


def open_verifier(
    browser: Browser, stack: Stack, key: str | None = None, **context_options: Any
) -> tuple[BrowserContext, Page]:
    """A fresh device on /verifier/, set up with `key` when given."""
    context = new_context(browser, stack, **context_options)
    page = context.new_page()
    page.goto("/verifier/")
    page.wait_for_selector("body[data-ready]")
    if key is not None:
        set_up(page, key)
    return context, page


def set_up(page: Page, key: str) -> None:
    """(By element id: the labels depend on the language; tests check them elsewhere.)"""
    page.locator("#api-key").fill(key)
    page.locator("#api-key").press("Enter")
    expect(page.locator("#input")).to_be_visible()


def wait_for_offline_data(page: Page) -> None:
    """Until the device has stored keys and lists (the footer says when it updated them)."""
    # a function, not an expression: the page's CSP forbids Playwright's eval
    page.wait_for_function(
        "() => /\\d/.test(document.getElementById('net').textContent)", timeout=15_000
    )


def verdict(page: Page) -> Locator:
    """The verdict region once it holds a verdict."""
    return page.locator("#verdict[data-result]")


def type_like_a_scanner(page: Page, text: str) -> None:
    """A USB/Bluetooth scanner: keystrokes into the focused field, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def check(page: Page, text: str) -> Locator:
    page.locator("#input").fill(text)
    page.locator("#check-submit").click()
    region = verdict(page)
    expect(region).to_be_visible()
    return region
