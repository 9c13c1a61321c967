"""Redis faults made real, against `statuspass serve` processes on a redis-server this test
started (stopped by PID): a stopped and a killed server, a slow and a black-holed
connection through an in-test TCP proxy, a crash-restart with appendfsync always, and the
refusal to start on unsafe persistence settings in production.

What must hold (issue 4): /ready fails; online verify and issuance answer 503 with
Retry-After within the store timeout (2 s by default, asserted < 3 s); never a "valid"
that could not be checked; JWKS and the last published status list keep being served;
no hung worker, no exhausted pool; the service recovers by itself.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis_servers
from redis_servers import RedisServer
from served import TYPE, Service, TcpProxy, grant_body, production_env, running

from app.tokens import generate_nrn

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: the store timeout of the service (its default) and the bound the tests allow for a 503
STORE_TIMEOUT_S = 2.0
QUICK_S = 3.0
#: a request that first waits for a pooled connection, then for its command: 2 timeouts
QUEUED_S = 2 * STORE_TIMEOUT_S + 1.5
#: short status-list refresh so a list request goes to the store during the outage
FAULT_ENV = {"STATUSPASS_STATUS_LIST_TTL_S": "4"}


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - start


class World:
    """A service with a source, a verifier, one citizen with an entitlement and a proof."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.source = svc.add_client("source")
        self.verifier = svc.add_client("verifier")
        self.nrn = generate_nrn(random.Random(4))
        self.citizen = svc.citizen_token(self.nrn)
        self.http = httpx.Client(base_url=svc.url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def setup(self) -> None:
        r = self.http.put(
            f"/v1/entitlements/{TYPE}", json=grant_body(self.nrn), headers=self.auth(self.source)
        )
        assert r.status_code == 200, r.text
        proof = self.issue()
        assert proof.status_code == 201, proof.text
        self.token = proof.json()["token"]
        claims = json.loads(base64.urlsafe_b64decode(self.token.split(".")[1] + "=="))
        uri = claims["status"]["status_list"]["uri"]
        self.list_path = uri[uri.index("/v1/status-lists/") :]
        listed = self.http.get(self.list_path)
        assert listed.status_code == 200
        self.list_token = listed.content
        self.jwks = self.http.get("/.well-known/jwks.json").content

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def issue(self, http: httpx.Client | None = None) -> httpx.Response:
        return (http or self.http).post(
            "/v1/me/proofs", json={"type": TYPE, "qr": []}, headers=self.auth(self.citizen)
        )

    def verify(self, http: httpx.Client | None = None) -> httpx.Response:
        return (http or self.http).post(
            "/v1/verify", json={"token": self.token}, headers=self.auth(self.verifier)
        )

    def assert_down(self) -> None:
        """Everything that needs the store says 503 quickly; public documents stay."""
        r, took = timed(self.http.get, "/ready")
        assert r.status_code == 503 and took < QUICK_S, (r.status_code, took)
        for call in (self.verify, self.issue):
            r, took = timed(call)
            print(f"  {call.__name__}: {r.status_code} in {took:.2f} s")
            assert took < QUICK_S, f"{call.__name__} took {took:.2f} s"
            assert_unavailable(r)
        r, took = timed(self.http.get, "/.well-known/jwks.json")
        assert r.status_code == 200 and r.content == self.jwks and took < 1.0
        time.sleep(1.1)  # past the list's refresh interval: the service asks the store
        r, took = timed(self.http.get, self.list_path)
        assert r.status_code == 200, r.text
        assert r.content == self.list_token  # the last list it published, still signed
        assert took < QUICK_S

    def assert_up(self) -> None:
        assert self.http.get("/ready").status_code == 200
        r = self.verify()
        assert r.status_code == 200 and r.json()["result"] == "valid", r.text
        assert self.issue().status_code == 201

    def wait_ready(self, timeout_s: float = 15.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.http.get("/ready").status_code == 200:
                print(f"  recovered: /ready 200 after {time.monotonic() - start:.2f} s")
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"no recovery within {timeout_s} s:\n{self.svc.log()[-3000:]}")


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["retry-after"].isdigit()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 503
    assert "result" not in r.json()  # never a verdict it could not check


def burst(world: World, n: int, call: str = "verify") -> list[tuple[int, float, str]]:
    """n concurrent requests; (status, seconds, verdict) each."""

    def one(_: int) -> tuple[int, float, str]:
        with httpx.Client(base_url=world.svc.url, timeout=30) as http:
            r, took = timed(getattr(world, call), http)
            verdict = r.json().get("result", "") if r.status_code == 200 else ""
            return r.status_code, took, verdict

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def crash(server: RedisServer) -> None:
    """SIGKILL redis-server (by its PID): no shutdown, no final fsync."""
    server.proc.kill()
    server.proc.wait()
    redis_servers._started.discard(server.proc.pid)  # not ours to kill at exit any more


def restart(server: RedisServer) -> None:
    """The same port and working directory (so the same AOF) again."""
    server.proc = RedisServer.start(server.workdir.parent, port=server.port).proc


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path / "redis")
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


def test_stopped_then_killed_redis(tmp_path: Path, redis: RedisServer) -> None:
    svc = Service(tmp_path, redis.url, extra_env=FAULT_ENV)
    with closing(World(svc)) as world, running(svc):
        world.setup()
        world.assert_up()

        # SIGSTOP: the socket accepts, nothing answers (a hung or swapping server)
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            world.assert_down()
            answers = burst(world, 16)
            print(f"  SIGSTOP, 16 concurrent: slowest 503 after {max(a[1] for a in answers):.2f} s")
            assert {s for s, _, _ in answers} == {503}
            assert max(t for _, t, _ in answers) < QUEUED_S, answers
            r, took = timed(world.http.get, "/health")
            assert r.status_code == 200 and took < 1.0  # the worker is not hung
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        world.wait_ready()
        world.assert_up()

        # SIGKILL: connection refused; then the same port and AOF dir come back
        crash(redis)
        world.assert_down()
        restart(redis)
        took = world.wait_ready()
        assert took < 5.0
        world.assert_up()  # the entitlement and proof came back from the AOF
        answers = burst(world, 16)
        assert {(s, v) for s, _, v in answers} == {(200, "valid")}
    assert "Traceback" not in svc.log()


def test_slow_and_blackholed_connection(tmp_path: Path, redis: RedisServer) -> None:
    with TcpProxy(redis.port) as proxy:
        svc = Service(tmp_path, f"redis://127.0.0.1:{proxy.port}/0", extra_env=FAULT_ENV)
        with closing(World(svc)) as world, running(svc):
            world.setup()
            world.assert_up()

            # slow but within the timeout: answers are right, only later
            proxy.slow(0.3)
            r, took = timed(world.verify)
            assert r.status_code == 200 and r.json()["result"] == "valid"
            assert 0.3 <= took < QUICK_S

            # slower than the timeout: 503 at the timeout, not at the delay
            proxy.slow(10.0)
            r, took = timed(world.verify)
            assert_unavailable(r)
            assert took < QUICK_S

            # black hole: accepted, never answered, no RST
            proxy.blackhole()
            world.assert_down()
            answers = burst(world, 100)  # more than the 64 pooled connections per worker
            slowest = max(a[1] for a in answers)
            print(f"  black hole, 100 concurrent: slowest 503 after {slowest:.2f} s")
            assert {s for s, _, _ in answers} == {503}, answers
            assert max(t for _, t, _ in answers) < QUEUED_S, sorted(t for _, t, _ in answers)
            r, took = timed(world.http.get, "/health")
            assert r.status_code == 200 and took < 1.0

            proxy.forward()
            world.wait_ready()
            world.assert_up()
            answers = burst(world, 100)  # the pool was given back: all served
            assert {(s, v) for s, _, v in answers} == {(200, "valid")}, answers
        assert "Traceback" not in svc.log()


def test_acknowledged_writes_survive_redis_crash(tmp_path: Path, redis: RedisServer) -> None:
    """appendonly yes + appendfsync always: SIGKILL redis-server (no shutdown, no final
    fsync) and start it again on the same AOF: every acknowledged write is there."""
    svc = Service(tmp_path, redis.url)
    rng = random.Random(44)
    nrns = [generate_nrn(rng) for _ in range(60)]
    with closing(World(svc)) as world, running(svc):
        src = World.auth(world.source)
        world.setup()
        for i, nrn in enumerate(nrns):
            r = world.http.put(f"/v1/entitlements/{TYPE}", json=grant_body(nrn, i), headers=src)
            assert r.status_code == 200 and r.json()["outcome"] == "created"
        revoked = nrns[:15]
        for nrn in revoked:
            r = world.http.post(
                f"/v1/entitlements/{TYPE}/revoke", json={"nrn": nrn, "reason": "t"}, headers=src
            )
            assert r.status_code == 200 and r.json()["status"] == "revoked"
        for _ in range(5):  # verifications are audited too
            assert world.verify().json()["result"] == "valid"
        before = svc.cli("audit", "verify").stdout
        assert before.startswith("OK: ")

        crash(redis)  # SIGKILL: no shutdown, no final fsync
        restart(redis)
        world.wait_ready()

        after = svc.cli("audit", "verify").stdout
        assert after == before  # same records, same heads
        for i, nrn in enumerate(nrns):
            r = world.http.put(f"/v1/entitlements/{TYPE}", json=grant_body(nrn, i), headers=src)
            assert r.json()["outcome"] == "unchanged", (nrn, r.text)
            assert r.json()["status"] == ("revoked" if nrn in revoked else "valid")
        assert world.verify().json()["result"] == "valid"
        assert svc.cli("audit", "verify").stdout.startswith("OK: ")


def test_production_refuses_unsafe_redis(tmp_path: Path) -> None:
    unsafe = RedisServer.start(tmp_path / "redis", appendonly=False)
    try:
        dev = Service(tmp_path / "dev", unsafe.url)
        (tmp_path / "dev").mkdir()
        with running(dev):
            assert "appendonly is off" in dev.log()  # development: starts, and warns

        prod = Service(tmp_path, unsafe.url, env="production", extra_env=production_env(tmp_path))
        prod.cli("keys", "generate")
        proc = prod.spawn()
        try:
            code = proc.wait(timeout=60)
        finally:
            prod.kill()
        assert code != 0
        log = prod.log()
        assert "unsafe Redis persistence settings" in log and "appendonly is off" in log, log
    finally:
        unsafe.stop()
