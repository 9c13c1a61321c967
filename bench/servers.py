"""uvicorn vs granian for `statuspass serve`, measured side by side in one run.

For each server: start `statuspass serve --server S --workers W` on a free loopback port
(fresh SQLite store and keys), then wrk (1 thread, C connections, D seconds, after a
warm-up) against a public GET (issuer metadata, no store) and an online POST /v1/verify
(signature check + store round trip + audit). Prints requests/s and the ratio.

    python bench/servers.py [--duration 10] [--connections 32] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from app.tokens import generate_nrn

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '{"token": "%s"}'
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def call(url: str, body: dict[str, object] | None, token: str) -> dict[str, object]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body else None,
        method="POST" if body else "GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    if body is not None and "nrn" in body:
        req.method = "PUT"
    with urllib.request.urlopen(req, timeout=10) as resp:
        out: dict[str, object] = json.loads(resp.read())
        return out


def wrk(url: str, duration: int, connections: int, script: Path | None = None) -> float:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} failed responses\n{out}")
    assert match, out
    return float(match.group(1))


def measure(server: str, workers: int, duration: int, connections: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"sp-{server}-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STATUSPASS_")},
        "STATUSPASS_STORE_URL": f"sqlite:///{work}/sp.sqlite3",
        "STATUSPASS_KEYS_DIR": str(work / "keys"),
        "STATUSPASS_ISSUER": base,
        "STATUSPASS_DEV_IDP": "1",
        "STATUSPASS_MAX_IN_FLIGHT": "100000",
    }
    src = json.loads(
        cli(
            env,
            "clients",
            "add",
            "--name",
            "s",
            "--role",
            "source",
            "--types",
            "social_tariff",
            "--json",
        )
    )["api_key"]
    ver = json.loads(
        cli(
            env,
            "clients",
            "add",
            "--name",
            "v",
            "--role",
            "verifier",
            "--types",
            "social_tariff",
            "--json",
        )
    )["api_key"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--server",
            server,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        nrn = generate_nrn(random.Random(1))
        call(
            f"{base}/v1/entitlements/social_tariff",
            {
                "nrn": nrn,
                "holder": {"given_name": "A", "family_name": "B"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            },
            src,
        )
        citizen = cli(env, "dev", "citizen-token", nrn).strip()
        proof = call(
            f"{base}/v1/me/proofs", {"type": "social_tariff", "qr": [], "lifetime_s": 900}, citizen
        )
        script = work / "verify.lua"
        script.write_text(LUA % (ver, proof["token"]))
        wrk(f"{base}/.well-known/statuspass", 2, connections)  # warm-up
        return {
            "metadata_rps": wrk(f"{base}/.well-known/statuspass", duration, connections),
            "verify_rps": wrk(f"{base}/v1/verify", duration, connections, script),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: apt-get install -y wrk")
    res = {
        s: measure(s, args.workers, args.duration, args.connections) for s in ("uvicorn", "granian")
    }
    print(f"{'':22}{'uvicorn':>12}{'granian':>12}{'granian/uvicorn':>18}")
    for key in ("metadata_rps", "verify_rps"):
        u, g = res["uvicorn"][key], res["granian"][key]
        print(f"{key:22}{u:12.0f}{g:12.0f}{g / u:18.2f}")
    print(json.dumps({"workers": args.workers, **res}))


if __name__ == "__main__":
    main()
