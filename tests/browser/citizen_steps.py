"""What a citizen does in the citizen app, as steps the browser tests share.

    page = citizen_page(browser, stack)
    log_in(page, nrn)                   # through the development login page
    open_proof(page, "Social tariff")   # the QR full screen
    token = qr_text(page)               # read back from a screenshot with zxing-cpp

`STATUSPASS_SCREENSHOTS=docs/screenshots pytest tests/browser/test_citizen*.py` also
writes the screens the README shows (citizen-*.png) into that folder.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from webstack import Stack

PHONE = {"width": 360, "height": 740}  # a small phone, at a phone's pixel density
QR_NAME = re.compile("QR code")


def citizen_page(browser: Browser, stack: Stack, **kw: Any) -> Page:
    """A fresh profile on a 360-px phone, English unless `locale` says otherwise."""
    kw.setdefault("locale", "en-GB")
    kw.setdefault("viewport", PHONE)
    kw.setdefault("device_scale_factor", 2)
    context = browser.new_context(base_url=stack.url, **kw)
    return context.new_page()


def log_in(page: Page, nrn: str, *, shots: bool = False) -> None:
    """Open the app, press "Log in", type the NRN on the dev login page, come back."""
    page.goto("/citizen/")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_label("National register number").fill(nrn)
    if shots:
        shot(page, "dev-login")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="My rights")).to_be_visible()
    expect(page.locator("#rights-list li").first).to_be_visible()


def open_proof(page: Page, label: str) -> None:
    """Press "Show proof" on the right called `label`; wait for its QR code."""
    card = page.locator("#rights-list li").filter(has=page.get_by_role("heading", name=label))
    card.get_by_role("link", name="Show proof").click()
    expect(page.get_by_role("img", name=QR_NAME)).to_be_visible()
    page.wait_for_function("() => document.getElementById('qr').complete")


def qr_text(page: Page) -> str:
    """The text of the one QR code on the screen, from a screenshot of the page."""
    image = Image.open(io.BytesIO(page.screenshot()))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"{len(found)} QR codes on the screen"
    return str(found[0].text)


def shot(page: Page, name: str) -> None:
    """Keep a screenshot for the docs when STATUSPASS_SCREENSHOTS names a folder."""
    folder = os.environ.get("STATUSPASS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"citizen-{name}.png"))


def verify(stack: Stack, token: str) -> dict[str, Any]:
    """What the museum's counter is told about `token`."""
    with stack.api() as http:
        r = http.post(
            "/v1/verify",
            json={"token": token},
            headers={"Authorization": f"Bearer {stack.museum_key}"},
        )
    assert r.status_code == 200, r.text
    return dict(r.json())
