"""`statuspass serve` processes and a fault-injecting TCP proxy, for the fault tests.

    svc = Service(tmp_path, store_url)          # env, keys, dev IdP
    key = svc.add_client("source")
    svc.start(); ...; svc.kill(signal.SIGKILL)

    with TcpProxy(redis_port) as proxy:         # 127.0.0.1:<proxy.port> -> redis
        proxy.blackhole(); proxy.slow(0.5); proxy.forward()

Everything listens on and connects to 127.0.0.1 only; every process started here runs in
its own session and is stopped through its own process group (never by name).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

TYPE = "social_tariff"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: fixed per test process, so that sending the same grant again is "unchanged"
VALID_FROM = rfc3339(datetime.now(UTC).replace(hour=0, minute=0, second=0) - timedelta(days=1))


def grant_body(nrn: str, i: int = 0) -> dict[str, Any]:
    return {
        "nrn": nrn,
        "holder": {"given_name": f"Jan{i}", "family_name": f"Peeters{i}"},
        "valid_from": VALID_FROM,
        "valid_until": "2030-01-01T00:00:00Z",
    }


def production_env(folder: Path) -> dict[str, str]:
    """What production needs besides keys and a store: a public https issuer and an
    e-ID provider (its JWKS in a file here), so that a test reaches the refusal it is
    about rather than stopping at these."""
    from app.tokens import SigningKey, jwks_document

    jwks = folder / "oidc-jwks.json"
    jwks.write_text(json.dumps(jwks_document([SigningKey.generate().public()])))
    return {
        "STATUSPASS_ISSUER": "https://statuspass.example.org",
        "STATUSPASS_OIDC_ISSUER": "https://idp.example.org",
        "STATUSPASS_OIDC_AUDIENCE": "statuspass",
        "STATUSPASS_OIDC_JWKS": str(jwks),
    }


class Service:
    """One `statuspass serve` on a free loopback port (granian unless `server` says)."""

    def __init__(
        self,
        tmp_path: Path,
        store_url: str,
        *,
        workers: int = 1,
        env: str = "development",
        extra_env: dict[str, str] | None = None,
        server: str = "granian",
    ) -> None:
        self.server = server
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_path = tmp_path
        self.workers = workers
        self.log_path = tmp_path / f"serve-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STATUSPASS_")},
            "STATUSPASS_STORE_URL": store_url,
            "STATUSPASS_KEYS_DIR": str(tmp_path / "keys"),
            "STATUSPASS_ISSUER": self.url,
            "STATUSPASS_ENV": env,
            **({"STATUSPASS_DEV_IDP": "1"} if env == "development" else {}),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    # -- CLI -------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "app", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"statuspass {' '.join(args)}: {out.returncode}\n{out.stderr}")
        return out

    def add_client(self, role: str, name: str | None = None) -> str:
        out = self.cli(
            "clients", "add", "--name", name or role, "--role", role, "--types", TYPE, "--json"
        ).stdout
        return str(json.loads(out)["api_key"])

    def citizen_token(self, nrn: str) -> str:
        return self.cli("dev", "citizen-token", nrn).stdout.strip()

    # -- process ---------------------------------------------------------------------
    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--server",
                    self.server,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() signals only it
            )
        return self.proc

    def start(self, timeout_s: float = 30.0) -> None:
        proc = self.spawn()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not become ready:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        return stop_group(proc, sig)


def stop_group(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace_s: float = 30
) -> int:
    """Signal a process started in a session of its own through its group (so its
    children too); SIGKILL the group if it outlives `grace_s`. Returns its exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=10)


# -- a TCP proxy that can slow down or black-hole the connection to Redis ----------------
class TcpProxy:
    """127.0.0.1:<port> -> 127.0.0.1:<upstream>, run by an asyncio loop in a thread.

    forward(): bytes pass both ways. slow(s): every chunk waits s seconds first (both
    ways). blackhole(): connections are accepted and bytes read, nothing is forwarded,
    nothing comes back (a peer that vanished without a RST). Connections that saw a black
    hole are closed when forwarding resumes (their byte streams are out of step).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.mode = "forward"
        self.delay_s = 0.0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._poisoned: set[asyncio.StreamWriter] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    def forward(self) -> None:
        async def go() -> None:
            self.mode, self.delay_s = "forward", 0.0
            for w in list(self._poisoned):
                w.close()
            self._poisoned.clear()

        self._call(go())

    def slow(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.mode = "slow"

    def blackhole(self) -> None:
        self.mode = "blackhole"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            if self.mode == "blackhole":
                self._poisoned.add(writer)
                while await reader.read(65536):
                    pass
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer, writer), self._pipe(up_reader, writer, writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, client: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await src.read(65536):
                if self.mode == "blackhole" or client in self._poisoned:
                    self._poisoned.add(client)
                    continue  # swallowed
                if self.mode == "slow" and self.delay_s:
                    await asyncio.sleep(self.delay_s)
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()


def send_all(svc: Service, key: str, lines: list[bytes]) -> list[dict[str, Any]]:
    """POST the NDJSON `lines` as one batch; the result lines, summary last."""
    body = b"".join(x + b"\n" for x in lines)
    with httpx.Client(base_url=svc.url, timeout=300) as http:
        r = http.post(
            "/v1/entitlements:batch",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        )
    assert r.status_code == 200, r.text
    return [json.loads(x) for x in r.content.splitlines() if x.strip()]


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        service.kill()
