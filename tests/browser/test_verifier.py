"""The verifier app in Chromium against the real service: what a counter clerk and a
police officer see for each way of checking a proof."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, expect
from verifier_app import check, open_verifier, type_like_a_scanner, verdict
from webstack import Stack, camera_args, console_errors, qr_video


def test_setting_up_keeps_the_key_on_this_device_until_forgotten(
    stack: Stack, browser: Browser
) -> None:
    context, page = open_verifier(browser, stack)
    page.get_by_label("API key").fill("sp_not-a-key-of-ours")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text("This key is unknown or has been revoked.")
    page.get_by_label("API key").fill(stack.museum_key)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Code or token")).to_be_focused()
    expect(page.locator("#device")).to_have_text("Museum")
    assert stack.museum_key not in page.url
    page.reload()
    expect(page.get_by_label("Code or token")).to_be_visible()  # still set up
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Forget this device").click()
    expect(page.get_by_label("API key")).to_be_visible()
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert stack.museum_key not in stored
    context.close()


def test_a_scanner_typing_a_proof_gives_valid_with_the_holder(
    stack: Stack, browser: Browser
) -> None:
    proof = stack.proof(stack.grant())
    context, page = open_verifier(browser, stack, stack.museum_key)
    errors = console_errors(page)
    type_like_a_scanner(page, proof["token"])
    region = verdict(page)
    expect(region).to_have_attribute("data-result", "valid")
    expect(region).to_have_attribute("data-reason", "")
    expect(region).to_contain_text("VALID")
    expect(region).to_contain_text("J. PEETERS")
    expect(region).to_contain_text("Social tariff")
    expect(region).to_contain_text("Checked online")
    expect(page.get_by_label("Code or token")).to_have_value("")
    expect(page.get_by_label("Code or token")).to_be_focused()  # ready for the next scan
    assert errors == []
    context.close()


def test_a_revoked_proof_is_not_valid_and_says_why(stack: Stack, browser: Browser) -> None:
    nrn = stack.grant()
    proof = stack.proof(nrn)
    stack.revoke(nrn)
    context, page = open_verifier(browser, stack, stack.museum_key)
    region = check(page, proof["token"])
    expect(region).to_have_attribute("data-result", "invalid")
    expect(region).to_have_attribute("data-reason", "revoked")
    expect(region).to_contain_text("NOT VALID")
    expect(region).to_contain_text("The right has been withdrawn.")
    context.close()


def test_a_typed_code_with_spaces_and_a_typo_caught_before_asking(
    stack: Stack, browser: Browser
) -> None:
    proof = stack.proof(stack.grant())
    code = proof["code"].replace(" ", "")  # the service formats it 1234 5678 9012
    context, page = open_verifier(browser, stack, stack.museum_key)
    typo = code[:11] + str((int(code[11]) + 1) % 10)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/v1/verify" in r.url else None)
    page.get_by_label("Code or token").fill(typo)
    page.get_by_label("Code or token").press("Enter")
    expect(page.get_by_role("alert").filter(has_text="typo")).to_be_visible()
    assert requests == []
    region = check(page, f"{code[:4]} {code[4:8]}-{code[8:]}")
    expect(region).to_have_attribute("data-result", "valid")
    expect(region).to_contain_text("J. PEETERS")
    again = check(page, code)
    # the seen warning, in words rather than "1 time(s)"
    seen = "already checked once in the last minutes, by one organisation"
    expect(again.locator(".seen")).to_contain_text(seen)
    context.close()


def test_the_police_check_a_card_number(stack: Stack, browser: Browser) -> None:
    number = f"{stack.rng.randrange(10**9, 10**10)}"
    stack.grant("parking_card", card_number=number)
    context, page = open_verifier(browser, stack, stack.police_key)
    region = check(page, f"{number[:5]} {number[5:]}")
    expect(region).to_have_attribute("data-result", "valid")
    expect(region).to_contain_text(number)
    expect(region).to_contain_text("Disability parking card")
    expect(region).not_to_contain_text("PEETERS")  # never the holder's name at the kerb
    # the card's end date as the officer reads dates, not as the API writes them
    expect(region).to_contain_text("31 December 2029")  # the last day of the right
    expect(region).not_to_contain_text("2029-12-31")
    unknown = check(page, "0000000001")
    expect(unknown).to_have_attribute("data-reason", "unknown_card")
    context.close()


def test_a_museum_key_may_not_check_parking_cards(stack: Stack, browser: Browser) -> None:
    context, page = open_verifier(browser, stack, stack.museum_key)
    region = check(page, "1234567890")
    expect(region).to_have_attribute("data-result", "invalid")
    expect(region).to_have_attribute("data-reason", "not_permitted")
    context.close()


def test_the_camera_reads_the_qr_the_service_issued(
    stack: Stack, launch_browser: Callable[..., Browser], tmp_path: Path
) -> None:
    proof = stack.proof(stack.grant())
    camera = launch_browser(camera_args(qr_video(proof, tmp_path / "qr.y4m")))
    context, page = open_verifier(camera, stack, stack.museum_key)
    errors = console_errors(page)
    page.get_by_role("button", name="Scan").click()
    region = verdict(page)
    expect(region).to_have_attribute("data-result", "valid", timeout=20_000)
    expect(region).to_contain_text("J. PEETERS")
    expect(page.locator("#camera")).to_be_hidden()  # the camera stops after a read
    assert errors == []
    context.close()


def test_nothing_about_a_holder_stays_after_the_next_check(stack: Stack, browser: Browser) -> None:
    first = stack.proof(stack.grant(holder=("Anna", "Janssens")))
    second = stack.proof(stack.grant(holder=("Bram", "Wouters")))
    context, page = open_verifier(browser, stack, stack.museum_key)
    expect(check(page, first["token"])).to_contain_text("A. JANSSENS")
    page.get_by_label("Code or token").fill("not a proof")
    page.get_by_label("Code or token").press("Enter")
    expect(page.get_by_role("alert").filter(has_text="This is not a proof")).to_be_visible()
    assert "JANSSENS" not in page.locator("body").inner_text()
    expect(check(page, second["token"])).to_contain_text("B. WOUTERS")
    assert "JANSSENS" not in page.locator("body").inner_text()
    stored = page.evaluate(
        """async () => {
          let all = JSON.stringify(Object.assign({}, localStorage, sessionStorage));
          for (const name of await caches.keys()) {
            const cache = await caches.open(name);
            for (const request of await cache.keys()) {
              all += request.url + (await (await cache.match(request)).text());
            }
          }
          return all;
        }"""
    )
    for trace in ("JANSSENS", "WOUTERS", first["token"], second["token"]):
        assert trace not in stored
    context.close()
