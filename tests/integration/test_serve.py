"""`statuspass serve` as a real process: nothing acknowledged is lost to kill -9, and
SIGTERM lets it stop cleanly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import Service, grant_body

from app.tokens import generate_nrn


def sqlite_service(tmp_path: Path, **kw: Any) -> Service:
    return Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3", **kw)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Service]:
    srv = sqlite_service(tmp_path)
    yield srv
    srv.kill(signal.SIGKILL)


def cli(service: Service, *args: str) -> str:
    return service.cli(*args).stdout


def test_kill_9_loses_nothing_acknowledged(server: Service) -> None:
    key = server.add_client("source", "src")
    server.start()
    rng = random.Random(11)
    acknowledged = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        for _ in range(40):
            nrn = generate_nrn(rng)
            r = http.put(
                "/v1/entitlements/social_tariff",
                json=grant_body(nrn),
            )
            assert r.status_code == 200
            acknowledged.append(nrn)
    server.kill(signal.SIGKILL)
    server.start()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        for nrn in acknowledged:
            r = http.put(
                "/v1/entitlements/social_tariff",
                json=grant_body(nrn),
            )
            assert r.json()["outcome"] == "unchanged"  # it was there
    assert cli(server, "audit", "verify").startswith("OK: 41 records")


@pytest.mark.parametrize("kind", ["granian", "uvicorn"])
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, kind: str) -> None:
    server = sqlite_service(tmp_path, server=kind)
    key = server.add_client("source", "src")
    server.start()
    rng = random.Random(21)
    lines = [
        json.dumps(
            {
                "op": "upsert",
                "type": "social_tariff",
                "nrn": generate_nrn(rng),
                "holder": {"given_name": "A", "family_name": "B"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            }
        ).encode()
        + b"\n"
        for _ in range(20)
    ]
    terminated = threading.Event()

    def body() -> Iterator[bytes]:
        yield from lines[:10]
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGTERM)  # mid-request
        terminated.set()
        time.sleep(0.5)
        yield from lines[10:]

    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            r = http.post(
                "/v1/entitlements:batch",
                content=body(),
                headers={"Authorization": f"Bearer {key}", "content-type": "application/x-ndjson"},
            )
        assert terminated.is_set()
        assert r.status_code == 200
        summary = json.loads(r.text.splitlines()[-1])["summary"]
        assert summary == {"lines": 20, "ok": 20, "failed": 0, "complete": True}
        assert server.proc is not None
        code = server.proc.wait(timeout=30)
        # uvicorn re-raises the signal after its graceful shutdown; granian exits 0
        assert code in (0, -signal.SIGTERM)
        log = server.log()
        assert "shutdown complete" in log.lower() and "Traceback" not in log
    finally:
        server.kill(signal.SIGKILL)


def test_cli_verify_from_qr_image_urls_and_online(server: Service, tmp_path: Path) -> None:
    source = server.add_client("source", "src")
    museum = server.add_client("verifier", "Museum")
    server.start()
    nrn = generate_nrn(random.Random(12))
    citizen = cli(server, "dev", "citizen-token", nrn).strip()
    with httpx.Client(base_url=server.url) as http:
        http.put(
            "/v1/entitlements/social_tariff",
            headers={"Authorization": f"Bearer {source}"},
            json={
                "nrn": nrn,
                "holder": {"given_name": "Jan", "family_name": "Peeters"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            },
        ).raise_for_status()
        proof = http.post(
            "/v1/me/proofs",
            headers={"Authorization": f"Bearer {citizen}"},
            json={"type": "social_tariff", "qr": ["png"]},
        ).json()
    import base64

    png = tmp_path / "qr.png"
    png.write_bytes(base64.b64decode(proof["qr_png_base64"]))
    jwks_url = f"{server.url}/.well-known/jwks.json"
    # offline, keys and the status list fetched from the service (same host as --jwks)
    words = subprocess.run(
        [sys.executable, "-m", "app", "verify", "--qr", str(png), "--jwks", jwks_url],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=60,
        check=False,
    )
    assert words.returncode == 0, words.stderr
    assert words.stdout.startswith("VALID") and "J. PEETERS" in words.stdout
    assert "status list" in words.stdout
    online = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "verify",
            "--online",
            server.url,
            "--api-key",
            museum,
            "--code",
            proof["code"],
            "--json",
        ],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=60,
        check=False,
    )
    assert online.returncode == 0, online.stderr
    assert json.loads(online.stdout)["revocation_checked"] == "online"
    forged = proof["token"][:-4] + ("AAAA" if not proof["token"].endswith("AAAA") else "BBBB")
    bad = subprocess.run(
        [sys.executable, "-m", "app", "verify", forged, "--jwks", jwks_url],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout.startswith("INVALID (bad_signature)")
    log = server.log()
    for secret in (
        nrn,
        proof["token"],
        proof["code"],
        proof["code"].replace(" ", ""),
        citizen,
        source,
        museum,
        "Peeters",
        "PEETERS",
    ):
        assert secret not in log
