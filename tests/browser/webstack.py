"""The browser tests' world, shared by the fixtures (conftest.py), the tests of both web
apps, tests/browser/screenshots.py and bench/verifier_web.py (a module of its own name:
`conftest` is a name every test folder has).

* `start_stack(tmp)`: one `statuspass serve` on a temporary SQLite store and keys, with a
  source, a museum (social tariff) and a police (parking card) client; `Stack` grants,
  revokes and issues proofs as the authentic source and the citizen would.
* `launch_chromium(playwright, extra)`: Debian's `/usr/bin/chromium` through the PyPI
  `playwright` package (never `playwright install`: no browser download), headless,
  with `BASE_ARGS`; `camera_args(qr_video(proof, path))` adds a fake camera whose video
  is the QR PNG the service issued (tests/browser/y4m.py).
* `new_context(browser, stack)`: a fresh profile (storage, service workers, cache).
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright
from y4m import frame_of, write_y4m

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from served import VALID_FROM, Service

from app.tokens import (
    PROOF_TYP,
    decode_verified,
    generate_nrn,
    get_status,
    parse_jwks,
    parse_status_list,
)

ROOT = Path(__file__).parents[2]
LIST_EXP_S = 7200
CHROMIUM = os.environ.get("STATUSPASS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: what every launch gets: no GPU, no first-run UI, nothing that phones home
BASE_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


@dataclass
class Stack:
    """The served service and what the tests do to it through its API and CLI."""

    service: Service
    source_key: str
    museum_key: str
    police_key: str
    rng: random.Random

    @property
    def url(self) -> str:
        return self.service.url

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def verifier_key(self, name: str, types: str = "social_tariff") -> str:
        out = self.service.cli(
            "clients", "add", "--name", name, "--role", "verifier", "--types", types, "--json"
        )
        return str(_json(out.stdout)["api_key"])

    def grant(
        self, type_id: str = "social_tariff", holder: tuple[str, str] = ("Jan", "Peeters"),
        **attributes: str,
    ) -> str:  # fmt: skip
        """A new citizen with a right of `type_id`; returns their NRN."""
        nrn = generate_nrn(self.rng)
        body: dict[str, Any] = {
            "nrn": nrn,
            "holder": {"given_name": holder[0], "family_name": holder[1]},
            "valid_from": VALID_FROM,
            "valid_until": "2030-01-01T00:00:00Z",
        }
        if attributes:
            body["attributes"] = attributes
        with self.api() as http:
            r = http.put(f"/v1/entitlements/{type_id}", json=body, headers=self._auth())
        assert r.status_code in (200, 201), r.text
        return nrn

    def proof(self, nrn: str, type_id: str = "social_tariff") -> dict[str, Any]:
        """The citizen's proof: token, code, qr_png_base64, ..."""
        citizen = self.service.citizen_token(nrn)
        with self.api() as http:
            r = http.post(
                "/v1/me/proofs",
                json={"type": type_id, "qr": ["png"]},
                headers={"Authorization": f"Bearer {citizen}"},
            )
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    def revoke(self, nrn: str, type_id: str = "social_tariff") -> None:
        with self.api() as http:
            r = http.post(
                f"/v1/entitlements/{type_id}/revoke",
                json={"nrn": nrn, "reason": "test"},
                headers=self._auth(),
            )
        assert r.status_code == 200, r.text

    def wait_until_listed(self, token: str, status: int, timeout_s: float = 15) -> None:
        """Until the published list shows `status` for the proof `token`."""
        keys = parse_jwks(httpx.get(self.url + "/.well-known/jwks.json").text)
        claims = decode_verified(token, keys, typ=PROOF_TYP)[1]
        ref = claims["status"]["status_list"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            path = ref["uri"].removeprefix(self.url)
            listed = parse_status_list(httpx.get(self.url + path).text, keys)
            if get_status(listed.packed, ref["idx"]) == status:
                return
            time.sleep(0.2)
        raise AssertionError(f"the list did not show status {status} in {timeout_s} s")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.source_key}"}


def _json(text: str) -> dict[str, Any]:
    return dict(json.loads(text))


def start_stack(tmp: Path) -> Stack:
    """Serve the app on a free loopback port, on a fresh store and keys in `tmp`."""
    service = Service(
        tmp,
        f"sqlite:///{tmp / 'store.sqlite3'}",
        extra_env={
            "STATUSPASS_LOOKUP_FAILURES_PER_WINDOW": "1000",
            # lists signed for two hours, not a day: the offline test moves the page's
            # clock past a list's exp before the keys (a day) are too old
            "STATUSPASS_STATUS_LIST_EXP_S": str(LIST_EXP_S),
            # rebuilt every 2 s: a revocation reaches the published list at once
            "STATUSPASS_STATUS_LIST_TTL_S": "8",
        },
    )
    both = "social_tariff,parking_card"
    source = service.cli(
        "clients", "add", "--name", "Source", "--role", "source", "--types", both, "--json"
    )
    museum = service.cli(
        "clients", "add", "--name", "Museum", "--role", "verifier",
        "--types", "social_tariff", "--json",
    )  # fmt: skip
    police = service.cli(
        "clients", "add", "--name", "Police", "--role", "verifier",
        "--types", "parking_card", "--json",
    )  # fmt: skip
    service.start()
    return Stack(
        service=service,
        source_key=str(_json(source.stdout)["api_key"]),
        museum_key=str(_json(museum.stdout)["api_key"]),
        police_key=str(_json(police.stdout)["api_key"]),
        rng=random.Random(2026),
    )


def build_web() -> None:
    """`make web`: the built apps, as `make test` leaves them (skipped when up to date)."""
    out = subprocess.run(
        ["make", "-s", "web"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, f"make web failed:\n{out.stdout}\n{out.stderr}"


def launch_chromium(playwright: Playwright, extra: list[str] | None = None) -> Browser:
    """Debian's Chromium with `BASE_ARGS` plus `extra`."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        args=BASE_ARGS + list(extra or []),
    )


def camera_args(video: Path) -> list[str]:
    """A fake camera playing `video` (a .y4m), granted without a prompt."""
    return [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]


def qr_video(proof: dict[str, Any], path: Path) -> Path:
    """The .y4m of the QR code PNG the service issued with `proof`."""
    png = Image.open(io.BytesIO(base64.b64decode(proof["qr_png_base64"])))
    return write_y4m(frame_of(png), path)


def new_context(browser: Browser, stack: Stack, **kw: Any) -> BrowserContext:
    """A fresh profile, English unless `locale` says otherwise, camera allowed."""
    kw.setdefault("locale", "en-GB")
    context = browser.new_context(base_url=stack.url, **kw)
    context.grant_permissions(["camera"], origin=stack.url)
    return context


def console_errors(page: Page) -> list[str]:
    """Collects the page's console errors (a CSP violation shows up here)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
