"""`statuspass serve` as a real process: nothing acknowledged is lost to kill -9, and
SIGTERM lets it stop cleanly."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
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
            assert r.status_code == 201
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


# -- uvicorn with several workers: one SO_REUSEPORT socket each (app/cli/workers.py) ------
def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets `pid` holds; none once it has exited (a worker just killed
    is still listed among the parent's children until it is reaped)."""
    out: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return out
    for fd in fds:
        try:
            link = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 sockets on local `port` in `state` (/proc/net/tcp: 0A listen,
    01 established)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[3] == state:
            out.add(f[9])
    return out


def _listeners(pid: int, port: int) -> dict[int, set[str]]:
    """Worker processes under `pid` with a socket listening on `port`, and those sockets."""
    listening = _tcp_inodes(port, "0A")
    found = {child: _socket_inodes(child) & listening for child in _children(pid)}
    return {child: inodes for child, inodes in found.items() if inodes}


def _established(pid: int, port: int) -> int:
    return len(_socket_inodes(pid) & _tcp_inodes(port, "01"))


def test_uvicorn_workers_each_listen_and_share_a_burst_of_connections(tmp_path: Path) -> None:
    """Connections opened at once (as by a proxy's keep-alive pool) reach every worker,
    and stay there; a worker killed outright is replaced and the service keeps answering."""
    server = sqlite_service(tmp_path, server="auto", workers=2)  # the default: uvicorn
    server.start()
    try:
        assert server.proc is not None
        # /ready answers once one worker is up; the other can follow ~200 ms later
        deadline = time.monotonic() + 10
        while len(sockets := _listeners(server.proc.pid, server.port)) < 2:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(sockets) == 2
        assert len(set.union(*sockets.values())) == 2  # a socket of its own each
        workers = sorted(sockets)
        clients = [httpx.Client(base_url=server.url, timeout=10) for _ in range(24)]
        try:
            threads = [threading.Thread(target=c.get, args=("/health",)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            per_worker = [_established(w, server.port) for w in workers]
            assert sum(per_worker) == 24 and min(per_worker) >= 1, per_worker
        finally:
            for c in clients:
                c.close()
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = sorted(_listeners(server.proc.pid, server.port))
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and workers[0] not in now, now
        for _ in range(20):  # new connections: whichever worker gets them answers
            assert httpx.get(f"{server.url}/ready", timeout=10).status_code == 200
        assert "exited with -9: starting another" in server.log()
        assert "uvicorn on 127.0.0.1" in server.log()
        os.kill(server.proc.pid, signal.SIGTERM)
        assert server.proc.wait(timeout=40) == 0
        assert not any(Path(f"/proc/{w}").exists() for w in now)
    finally:
        server.kill(signal.SIGKILL)


def test_uvicorn_workers_that_cannot_start_stop_the_service(tmp_path: Path) -> None:
    """A store that is not there fails every worker's start-up the same way: the service
    exits with an error instead of restarting workers forever."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    server = Service(tmp_path, f"redis://127.0.0.1:{port}/0", server="uvicorn", workers=2)
    proc = server.spawn()
    try:
        assert proc.wait(timeout=60) == 3
        log = server.log()
        assert "failed to start: stopping" in log
        assert log.count("worker ") < 10  # no restart loop
    finally:
        server.kill(signal.SIGKILL)


def test_uvicorn_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL to the parent alone: its workers shut down too, and the port is free for
    the next start (no orphans still answering on it)."""
    server = sqlite_service(tmp_path, server="auto", workers=2)  # the default: uvicorn
    server.start()
    try:
        assert server.proc is not None
        workers = sorted(_listeners(server.proc.pid, server.port))
        assert len(workers) == 2
        os.kill(server.proc.pid, signal.SIGKILL)  # the parent only, not its group
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.2)
        assert not any(Path(f"/proc/{w}").exists() for w in workers)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=5)
    finally:
        server.kill(signal.SIGKILL)


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
def test_several_workers_answer_metrics_with_one_total_that_never_goes_down(
    tmp_path: Path, kind: str
) -> None:
    # each scrape reaches either worker: it must count the requests both of them served
    srv = sqlite_service(tmp_path, workers=2, server=kind, extra_env={"TMPDIR": str(tmp_path)})
    srv.start()
    labels = 'method="GET",path="/.well-known/jwks.json",status_code="200"'
    series = f"statuspass_requests_total{{{labels}}}"
    try:
        for _ in range(40):  # a connection each: the kernel deals them over both workers
            assert httpx.get(f"{srv.url}/.well-known/jwks.json").status_code == 200
        seen: list[float] = []
        deadline = time.monotonic() + 20  # the other worker writes its counts every 5 s
        while time.monotonic() < deadline and (not seen or seen[-1] < 40):
            text = httpx.get(f"{srv.url}/metrics").text
            line = next((x for x in text.splitlines() if x.startswith(series + " ")), None)
            seen.append(float(line.split()[-1]) if line else 0.0)
            time.sleep(0.3)
        assert seen == sorted(seen), f"a total went down between scrapes: {seen}"
        assert seen[-1] == 40, f"scrapes saw {seen}"
        assert "process_cpu_seconds_total" not in text
    finally:
        assert srv.kill(signal.SIGTERM) == 0
    assert not list(tmp_path.glob("statuspass-metrics-*")), "the shared folder outlived serve"
