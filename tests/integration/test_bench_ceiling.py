"""The benchmarks' ceiling (`bench/_bare.py`) must do the work it stands for in every worker.

Every ratio in docs/performance.md at several workers divides by this server's rate. Its
workers are processes of their own; when each made its own signing key, a token signed
by one worker met an unknown kid in the other, was answered `{"valid": false}` with a
200 at once, and the ceiling looked faster by checking no signature on about half of
its requests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served import free_port, stop_group

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare_two_workers(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_BARE_")}
    args = [sys.executable, str(ROOT / "bench" / "_bare.py"), "--workers", "2"]
    with open(tmp_path / "bare.log", "wb") as log:
        proc = subprocess.Popen(
            [*args, "--server", "uvicorn", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "bare.log").read_text()
            assert time.monotonic() < deadline, "the bare server did not start"
            time.sleep(0.1)
        yield url
    finally:
        stop_group(proc, grace_s=20)


def test_every_worker_verifies_every_token_the_ceiling_signed(bare_two_workers: str) -> None:
    # each request on a connection of its own: the kernel deals them over both workers
    tokens = [
        httpx.post(f"{bare_two_workers}/sign", json={"type": "social_tariff"}).json()["token"]
        for _ in range(16)
    ]
    answers = [
        httpx.post(f"{bare_two_workers}/verify", json={"token": token}).json()
        for _ in range(4)
        for token in tokens
    ]
    rejected = [a for a in answers if a.get("valid") is not True]
    assert rejected == [], f"{len(rejected)} of {len(answers)} verifications rejected"
