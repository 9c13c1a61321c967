"""Browser tests: the real service, served on a loopback port, driven in Debian's Chromium.

    def test_x(stack: Stack, browser: Browser) -> None:
        context = new_context(browser, stack)
        page = context.new_page()
        page.goto("/verifier/")

Fixtures: `stack` (session; see webstack.start_stack), `browser` (module: headless
Chromium), `launch_browser(extra_args)` (another one, e.g. with a fake camera). The web
apps are built first (`make web`, skipped when up to date), as `make test` does. Every
test opens its own browser context, so tests never see each other's devices. Helpers
live in webstack.py: import them from there, not from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright
from webstack import CHROMIUM, Stack, build_web, launch_chromium, start_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def web_built() -> None:
    build_web()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, web_built: None) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield stack
    finally:
        stack.service.kill()


# Module scope, not session: Playwright's sync API runs an event loop in this thread
# while it is started, and the asyncio tests that follow need the thread to themselves.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def launch_browser(playwright: Playwright) -> Iterator[Callable[..., Browser]]:
    """Start a Chromium with `BASE_ARGS` plus `extra`; all are closed at the end."""
    started: list[Browser] = []

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (Debian's package)")

    def launch(extra: list[str] | None = None) -> Browser:
        browser = launch_chromium(playwright, extra)
        started.append(browser)
        return browser

    yield launch
    for browser in started:
        browser.close()


@pytest.fixture(scope="module")
def browser(launch_browser: Callable[..., Browser]) -> Browser:
    return launch_browser()
