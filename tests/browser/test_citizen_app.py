"""The citizen app in Chromium: log in through the dev login page, my rights, a proof
whose QR (read back from a screenshot) the counter accepts, who checked me, logout."""

from __future__ import annotations

import re
from pathlib import Path

from citizen_steps import citizen_page, log_in, open_proof, qr_text, shot, verify
from playwright.sync_api import Browser, Playwright, expect
from webstack import BASE_ARGS, CHROMIUM, Stack, console_errors

CODE = re.compile(r"^\d{4} \d{4} \d{4}$")


def test_log_in_show_a_proof_the_counter_accepts_see_the_check_log_out(
    stack: Stack, browser: Browser
) -> None:
    nrn = stack.grant("social_tariff")
    page = citizen_page(browser, stack)
    errors = console_errors(page)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto("/citizen/")
    shot(page, "login")
    log_in(page, nrn, shots=True)

    # the code and state left the address bar; the session is in this tab only
    assert page.evaluate("location.search") == ""
    assert page.evaluate("Object.keys(localStorage).some(k => k.includes('session'))") is False
    api_token = page.evaluate(
        "JSON.parse(sessionStorage.getItem('statuspass.citizen.session')).token"
    )
    assert api_token and nrn not in page.url

    right = page.locator("#rights-list li").filter(has_text="Social tariff")
    expect(right).to_contain_text("Valid until")
    shot(page, "rights")

    open_proof(page, "Social tariff")
    shot(page, "proof")
    code = page.locator("#code").inner_text()
    assert CODE.match(code), code
    expect(page.locator("#time-left")).to_contain_text(re.compile(r"Time left: [45]:\d\d"))
    token = qr_text(page)
    result = verify(stack, token)
    assert result["result"] == "valid" and result["entitlement"]["type"] == "social_tariff"
    with stack.api() as http:
        by_code = http.post(
            "/v1/verify",
            json={"code": code},
            headers={"Authorization": f"Bearer {stack.museum_key}"},
        ).json()
    assert by_code["result"] == "valid"

    page.get_by_role("button", name="Close").click()
    page.get_by_role("link", name="Who checked me").click()
    checks = page.locator("#checks-list li")
    expect(checks).to_have_count(2)
    expect(checks.first).to_contain_text("Museum")
    expect(checks.first).to_contain_text("Social tariff")
    expect(checks.first).to_contain_text("Valid")
    shot(page, "checks")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    assert api_token not in page.evaluate("JSON.stringify(sessionStorage)")
    page.reload()
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    expect(page.locator("#rights-list li")).to_have_count(0)

    # no token ever travelled in a URL; nothing was loaded from elsewhere
    assert not [u for u in urls if api_token in u or token in u]
    assert {u.split("/")[2] for u in urls if u.startswith("http")} == {stack.url.split("/")[2]}
    assert errors == []
    page.context.close()


def test_a_login_answer_that_is_not_ours_is_refused_and_leaves_the_address_bar(
    stack: Stack, browser: Browser
) -> None:
    page = citizen_page(browser, stack)
    page.goto("/citizen/?code=stolen-code&state=not-mine")
    expect(page.get_by_role("alert")).to_have_text("Logging in did not work. Please try again.")
    assert page.evaluate("location.search") == ""
    assert page.evaluate("sessionStorage.getItem('statuspass.citizen.session')") is None
    page.context.close()


def test_cancelling_on_the_login_page_says_so(stack: Stack, browser: Browser) -> None:
    page = citizen_page(browser, stack)
    page.goto("/citizen/")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_have_text("You cancelled the login.")
    assert page.evaluate("location.search") == ""
    page.context.close()


def test_the_app_is_installable(stack: Stack, playwright: Playwright, tmp_path: Path) -> None:
    # a profile on disk: Chromium never offers to install from an incognito profile,
    # which is what a new_context() is
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile",
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        args=BASE_ARGS,
        base_url=stack.url,
    )
    page = context.new_page()
    page.goto("/citizen/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    cdp = context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [] and '"display":"standalone"' in manifest["data"]
    context.close()
