"""Screenshots of the verifier's screens for the docs (docs/screenshots/verifier-*.png).

    .venv/bin/python tests/browser/screenshots.py

Serves the app on a temporary store, drives it at 360 x 740 px (a small phone) in
Debian's Chromium and writes small palette PNGs. Run it again when the screens change.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from PIL import Image
from playwright.sync_api import Page, sync_playwright
from verifier_app import check, open_verifier, wait_for_offline_data
from webstack import LIST_EXP_S, ROOT, Stack, build_web, launch_chromium, start_stack

OUT = ROOT / "docs" / "screenshots"


def save(page: Page, name: str) -> None:
    png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=48)
    image.save(OUT / f"verifier-{name}.png", optimize=True)
    print(f"wrote docs/screenshots/verifier-{name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build_web()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        stack: Stack = start_stack(Path(tmp))
        browser = launch_chromium(pw)
        try:
            phone = {"viewport": {"width": 360, "height": 740}}
            context, page = open_verifier(browser, stack, **phone)
            save(page, "setup")
            context.close()

            valid = stack.proof(stack.grant())
            context, page = open_verifier(browser, stack, stack.museum_key, **phone)
            check(page, valid["token"])
            save(page, "valid")
            check(page, valid["code"])
            save(page, "seen")
            nrn = stack.grant()
            revoked = stack.proof(nrn)
            stack.revoke(nrn)
            check(page, revoked["token"])
            save(page, "not-valid")
            context.close()

            number = "4711042424"
            # valid as long as the entitlement (valid_until): proofs derive the card's date
            card_nrn = stack.grant("parking_card", card_number=number)
            card = stack.proof(card_nrn, "parking_card")
            context, page = open_verifier(browser, stack, stack.police_key, locale="nl-BE", **phone)
            check(page, number)
            save(page, "police-card-nl")
            wait_for_offline_data(page)
            context.set_offline(True)
            check(page, card["token"])
            save(page, "offline-valid")
            page.clock.set_system_time(time.time() + LIST_EXP_S + 600)
            check(page, card["token"])
            save(page, "cannot-tell")
            context.close()
        finally:
            browser.close()
            stack.service.kill()


if __name__ == "__main__":
    main()
