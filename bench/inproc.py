"""Online verify or issuance on Redis without HTTP: the ASGI apps called directly, in
this process.

What the service's own code costs per request, next to the floor (`bench/_bare.py`),
with no server, socket or load generator in the measurement: `C` coroutines each send
`POST /v1/verify` (a real proof, rotated; the floor: `/verify-store`, the bare verify
plus one EVALSHA) or, with `--what issue`, `POST /v1/me/proofs {"qr": []}` (the seeded
citizens' ID tokens, rotated; the floor: `/sign-store`, the bare signature between one
read and one durable write) to the app's ASGI callable, one after another, for
`--seconds`. The figure is this process's CPU time per request (time.process_time), the
median of `--rounds` alternated rounds (floor, service, floor, ...), with redis-server's
CPU per request beside.

A redis-server of its own on a free loopback port (appendfsync always), stopped by PID;
its data and the keys live in a temporary directory, removed at the end.

    python bench/inproc.py                        # 5 rounds of 3 s, 32 concurrent
    python bench/inproc.py --profile out.prof     # and a cProfile of one more service round
    python bench/inproc.py --only service --entitlements 1000000   # a fuller store
    python bench/inproc.py --what issue           # issuance instead of verify
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from redis_servers import RedisServer  # noqa: E402

from bench import _common as c  # noqa: E402

ASGI = Callable[..., Awaitable[None]]
TYPE = "social_tariff"
_ISSUE = b'{"type":"social_tariff","qr":[]}'


def _scope(path: str, headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app: ASGI, scope: dict[str, Any], body: bytes | list[bytes]) -> tuple[int, bytes]:
    """Status and body of one request; `body` in one message or as a list of chunks."""
    parts = [body] if isinstance(body, bytes) else list(body)
    status = 0
    out = bytearray()

    async def receive() -> dict[str, Any]:
        if not parts:
            await asyncio.sleep(3600)
        part = parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            out.extend(message.get("body", b""))

    await app(dict(scope), receive, send)
    return status, bytes(out)


class Load(NamedTuple):
    """What one app is sent: its scopes (rotated with the bodies), bodies, and the answer
    every request must get (status, a fragment of the body)."""

    scopes: list[dict[str, Any]]
    bodies: list[bytes]
    status: int
    expect: bytes


async def _load(
    load: Load, app: ASGI, seconds: float, concurrency: int
) -> tuple[int, float, float]:
    """(requests, CPU seconds of this process, wall seconds)."""
    scopes, bodies = load.scopes, load.bodies
    stop_at = time.perf_counter() + seconds
    count = 0

    async def one(start: int) -> None:
        nonlocal count
        i = start
        while time.perf_counter() < stop_at:
            status, body = await _call(app, scopes[i % len(scopes)], bodies[i % len(bodies)])
            if status != load.status or load.expect not in body:
                raise SystemExit(f"unexpected answer {status}: {body[:200]!r}")
            count += 1
            i += concurrency

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(concurrency)))
    return count, time.process_time() - cpu0, time.perf_counter() - wall0


async def _seed_service(
    work: Path, url: str, proofs: int, entitlements: int
) -> tuple[ASGI, Lifespan, list[bytes], str, list[str]]:
    """The service app with its lifespan running, `proofs` real proofs, a verifier key,
    the ID tokens of the proofs' citizens, and `entitlements` more entitlements stored
    beside them (batch ingest)."""
    import random

    from app.api.app import create_app
    from app.auth import mint_dev_token
    from app.config import load_settings
    from app.domain.clients import create_client
    from app.domain.registry import load_registry
    from app.storage import open_store
    from app.tokens import generate_nrn

    settings = load_settings({**c.statuspass_env(work), "STATUSPASS_STORE_URL": url})
    store = await open_store(url, timeout_s=5.0)
    registry = load_registry(settings.registry)
    now = datetime.now(UTC)
    try:
        keys = {}
        for role in ("source", "verifier"):
            _, keys[role] = await create_client(
                store, registry, name=f"bench {role}", role=role, types=[TYPE], now=now
            )
    finally:
        await store.close()
    source_key, verifier_key = keys["source"], keys["verifier"]
    app = create_app(settings)
    lifespan = await Lifespan.start(app)
    rng = random.Random(7)
    tokens = []
    id_tokens = []
    for i in range(proofs):
        nrn = generate_nrn(rng)
        grant = {
            "nrn": nrn,
            "holder": {"given_name": f"Jan{i}", "family_name": f"Peeters{i}"},
            "valid_from": c.rfc3339(now - timedelta(days=1)),
            "valid_until": c.rfc3339(now + timedelta(days=365)),
        }
        status, body = await _call(
            app,
            _scope(f"/v1/entitlements/{TYPE}", _headers(source_key), method="PUT"),
            json.dumps(grant).encode(),
        )
        assert status in (200, 201), body
        id_token = mint_dev_token(settings, nrn, now, 3600)
        id_tokens.append(id_token)
        status, body = await _call(
            app,
            _scope("/v1/me/proofs", _headers(id_token)),
            json.dumps({"type": TYPE, "qr": [], "lifetime_s": 3600}).encode(),
        )
        assert status == 201, body
        tokens.append(b'{"token":"' + json.loads(body)["token"].encode() + b'"}')
    if entitlements:
        await _ingest(app, source_key, entitlements)
    return app, lifespan, tokens, verifier_key, id_tokens


async def _ingest(app: ASGI, source_key: str, count: int) -> None:
    """`count` upserts through POST /v1/entitlements:batch, 100,000 lines a request,
    streamed in 1 MB body chunks, each answer checked; progress on stderr."""
    from bench.ingest import batch_body, chunks

    lines = batch_body(count, seed=11)
    headers = _headers(source_key)
    headers[0] = (b"content-type", b"application/x-ndjson")
    scope = _scope("/v1/entitlements:batch", headers)
    start = time.perf_counter()
    step = 100_000
    for first in range(0, count, step):
        parts = list(chunks(lines[first : first + step]))
        status, body = await _call(app, scope, parts)
        summary = body.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if status != 200 or b'"failed":0' not in summary.replace(b" ", b""):
            raise SystemExit(f"ingest failed ({status}): {summary[:300]!r}")
        done = min(count, first + step)
        rate = done / (time.perf_counter() - start)
        print(f"ingest: {done:,}/{count:,} entitlements ({rate:,.0f}/s)", file=sys.stderr)


def _headers(bearer: str | None) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", b"application/json")]
    if bearer:
        out.append((b"authorization", f"Bearer {bearer}".encode()))
    return out


class Lifespan:
    """Runs an ASGI app's lifespan in this event loop (start-up now, shut-down later)."""

    def __init__(self, app: ASGI) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(
            app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                self.inbox.get, self.outbox.put)
        )  # fmt: skip

    @classmethod
    async def start(cls, app: ASGI) -> Lifespan:
        self = cls(app)
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer["type"] != "lifespan.startup.complete":
            raise SystemExit(f"start-up failed: {answer}")
        return self

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def _bare_tokens(app: ASGI, n: int) -> list[bytes]:
    scope = _scope("/sign", _headers(None))
    out = []
    for _ in range(n):
        status, body = await _call(app, scope, b'{"type":"social_tariff","qr":[]}')
        assert status == 201, body
        token = body.split(b'"token":"', 1)[1].split(b'"', 1)[0]
        out.append(b'{"token":"' + token + b'"}')
    return out


async def main_async(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="statuspass-inproc-"))
    server = RedisServer.start(
        work / "redis", appendfsync="always", extra=c.production_redis_args()
    )
    try:
        os.environ["BENCH_BARE_REDIS"] = server.url
        sys.path.insert(0, str(ROOT / "bench"))
        import _bare

        bare = _bare.app_factory()
        ours, lifespan, tokens, key, id_tokens = await _seed_service(
            work, server.url, args.proofs, args.entitlements
        )
        with server.client() as r:
            print(f"stored: {r.dbsize():,} Redis keys, {r.info('memory')['used_memory_human']}")
        if args.what == "issue":
            loads = {
                "floor": Load([_scope("/sign-store", _headers(None))], [_ISSUE], 201, b'"token"'),
                "service": Load(
                    [_scope("/v1/me/proofs", _headers(t)) for t in id_tokens],
                    [_ISSUE],
                    201,
                    b'"token"',
                ),
            }
        else:
            bare_bodies = await _bare_tokens(bare, args.proofs)
            loads = {
                "floor": Load(
                    [_scope("/verify-store", _headers(None))], bare_bodies, 200, b'"valid'
                ),
                "service": Load([_scope("/v1/verify", _headers(key))], tokens, 200, b'"valid'),
            }
        apps = {"floor": bare, "service": ours}
        # warm both (API-key cache, scripts loaded, connections open)
        for name, load in loads.items():
            await _load(load, apps[name], 1.0, args.concurrency)
        rows: dict[str, list[tuple[float, float, float]]] = {"floor": [], "service": []}
        pid = server.proc.pid
        for r in range(args.rounds):
            for name, load in loads.items():
                if args.only and name != args.only:
                    continue
                redis0 = c.cpu_seconds(pid)
                n, cpu, wall = await _load(load, apps[name], args.seconds, args.concurrency)
                redis_cpu = c.cpu_seconds(pid) - redis0
                rows[name].append((cpu / n * 1e6, redis_cpu / n * 1e6, n / wall))
                print(
                    f"round {r + 1} {name:8} {cpu / n * 1e6:7.1f} µs CPU/req  "
                    f"redis {redis_cpu / n * 1e6:5.1f} µs/req  {n / wall:8.0f} req/s ({n} requests)"
                )
        if args.profile:  # one more service round, profiled, not among the measured
            prof = cProfile.Profile()
            prof.enable()
            await _load(loads["service"], ours, args.seconds, args.concurrency)
            prof.disable()
            prof.dump_stats(args.profile)
            print(f"cProfile of one more service round: {args.profile}")
        print()
        if args.only:
            rows = {args.only: rows[args.only]}
        for name, vals in rows.items():
            med = statistics.median(v[0] for v in vals)
            red = statistics.median(v[1] for v in vals)
            print(f"{name:8} median {med:7.1f} µs CPU/req (worker), redis {red:5.1f} µs/req")
        if not args.only:
            f = statistics.median(v[0] for v in rows["floor"])
            s = statistics.median(v[0] for v in rows["service"])
            print(f"service / floor: {s / f:.2f}x")
        with server.client() as r:
            stats = r.info("commandstats")
        print("\nredis-server commands (whole run, both apps):")
        for name, st in sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:8]:
            print(f"  {name:24} {st['calls']:9} calls {st['usec_per_call']:8.2f} µs/call")
        await lifespan.stop()
    finally:
        server.stop()
        # the store (its AOF reaches gigabytes with --entitlements) and the keys are throwaway
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--profile", metavar="FILE", default=None)
    parser.add_argument("--only", choices=["floor", "service"], default=None)
    parser.add_argument("--what", choices=["verify", "issue"], default="verify")
    parser.add_argument(
        "--entitlements",
        type=int,
        default=0,
        help="entitlements to store beside the proofs' (batch ingest) before measuring",
    )
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
