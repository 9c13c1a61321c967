"""`statuspass serve` start-up as an operator meets it: one service per port, the issuer
from the address served, and refusals that are one line and exit code 2 (issue 19,
items 8, 12 and 16)."""

from __future__ import annotations

import base64
import json
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from served import Service, grant_body

from app.tokens import generate_nrn


def _claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _serve(svc: Service, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", *args],
        capture_output=True,
        text=True,
        env=svc.env,
        timeout=timeout,
        check=False,
    )


def _one_clear_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "ExceptionGroup" not in out.stderr
    assert lines[0].startswith("statuspass: ")
    return lines[0]


@pytest.mark.parametrize(("server", "workers"), [("granian", 1), ("uvicorn", 2)])
def test_a_second_serve_on_a_port_in_use_refuses(tmp_path: Path, server: str, workers: int) -> None:
    """Both servers share a port among their own workers (SO_REUSEPORT); a second,
    independent service must not join them and take part of the traffic."""
    first = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3", server=server, workers=workers)
    first.start()
    try:
        for second_server, second_workers in (("granian", "1"), ("uvicorn", "2")):
            out = _serve(
                first,
                "--port",
                str(first.port),
                "--server",
                second_server,
                "--workers",
                second_workers,
            )
            line = _one_clear_line(out)
            assert f"127.0.0.1:{first.port} is already in use" in line
        # the first one is untouched and still the only one answering
        for _ in range(20):
            assert httpx.get(f"{first.url}/ready", timeout=10).status_code == 200
        assert first.proc is not None and first.proc.poll() is None
    finally:
        first.kill(signal.SIGKILL)


def test_a_port_another_program_listens_on_is_refused(tmp_path: Path) -> None:
    svc = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        line = _one_clear_line(_serve(svc, "--port", str(port)))
    assert f"127.0.0.1:{port} is already in use" in line


def test_the_issuer_is_the_address_served_unless_set(tmp_path: Path) -> None:
    """`serve --port N` without STATUSPASS_ISSUER: tokens, status-list URIs and metadata
    all name http://127.0.0.1:N, so an offline check against that address finds the
    keys and a current list (not a stale one on :8000)."""
    svc = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3")
    del svc.env["STATUSPASS_ISSUER"]
    source = svc.add_client("source")
    nrn = generate_nrn(random.Random(19))
    citizen = svc.cli("dev", "citizen-token", nrn, "--issuer", svc.url).stdout.strip()
    svc.start()
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            meta = http.get("/.well-known/statuspass").json()
            assert meta["issuer"] == svc.url
            assert meta["status_list_base"] == f"{svc.url}/v1/status-lists/"
            r = http.put(
                "/v1/entitlements/social_tariff",
                headers={"Authorization": f"Bearer {source}"},
                json=grant_body(nrn),
            )
            assert r.status_code in (200, 201), r.text
            proof = http.post(
                "/v1/me/proofs",
                headers={"Authorization": f"Bearer {citizen}"},
                json={"type": "social_tariff", "qr": []},
            )
            assert proof.status_code in (200, 201), proof.text
        token = proof.json()["token"]
        claims = _claims(token)
        assert claims["iss"] == svc.url
        status = claims["status"]
        assert isinstance(status, dict)
        assert status["status_list"]["uri"].startswith(f"{svc.url}/v1/status-lists/")
        words = svc.cli("verify", token, "--jwks", f"{svc.url}/.well-known/jwks.json")
        assert words.stdout.startswith("VALID"), words.stdout
        assert "status list" in words.stdout
        assert f"ready: issuer {svc.url}," in svc.log()
    finally:
        svc.kill(signal.SIGKILL)


def test_a_set_issuer_wins_over_the_address(tmp_path: Path) -> None:
    svc = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3")
    svc.env["STATUSPASS_ISSUER"] = "https://statuspass.example.org"
    svc.start()
    try:
        meta = httpx.get(f"{svc.url}/.well-known/statuspass", timeout=10).json()
        assert meta["issuer"] == "https://statuspass.example.org"
    finally:
        svc.kill(signal.SIGKILL)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "needs STATUSPASS_ISSUER"),
        ({"STATUSPASS_ISSUER": "http://statuspass.example.org"}, "must be an https URL"),
        ({"STATUSPASS_ISSUER": "https://statuspass.example.org"}, "STATUSPASS_OIDC_ISSUER"),
    ],
)
def test_production_refuses_to_start_in_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    """No worker is started to crash on it: the parent says what to fix, once."""
    svc = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3", env="production")
    del svc.env["STATUSPASS_ISSUER"]
    svc.env.update(env)
    svc.cli("keys", "generate")
    port = str(svc.port)
    line = _one_clear_line(_serve(svc, "--port", port))
    assert expected in line
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{svc.url}/health", timeout=2)


@pytest.mark.parametrize(
    ("args", "expected"), [(["--workers", "0"], "--workers"), (["--port", "70000"], "--port")]
)
def test_impossible_options_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    svc = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3")
    assert expected in _one_clear_line(_serve(svc, *args))


def test_a_proof_lifetime_of_zero_is_refused_at_start(tmp_path: Path) -> None:
    """Every proof would be born expired: said once, before any citizen meets it."""
    svc = Service(tmp_path, f"sqlite:///{tmp_path}/sp.sqlite3")
    svc.env["STATUSPASS_DEFAULT_PROOF_LIFETIME_S"] = "0"
    line = _one_clear_line(_serve(svc, "--port", str(svc.port)))
    assert "STATUSPASS_DEFAULT_PROOF_LIFETIME_S must be positive" in line
