"""What offline verifiers fetch: JWKS and status lists (200 and 304), against a bare
Litestar endpoint returning the same bytes, and how long republishing a 2**20-entry
status list takes.

HTTP (issue 5: >= 80% of the bare endpoint): `statuspass serve` (1 worker, SQLite or
`--store redis`) with `STATUSPASS_STATUS_LIST_TTL_S=4`, so the served list is rebuilt
from the store every second *while* it is being fetched (publishing must not stall
requests: see the max latency). The bare app (bench/_bare.py, `GET /bytes/{name}`) serves
the very bytes and ETag the service served, with the same 304 rule. wrk runs GETs, plain
and with `If-None-Match`, against both, alternating, `--rounds` times.

Republish (issue 5: <= 200 ms): in-process, one list of 2**20 entries with a realistic fill
(`--fill` of the entries allocated, a tenth of those revoked or suspended) in a real store
(SQLite, and a redis-server started here), built by the service's own publisher: store
read, hash, zlib, sign. Median and max of `--repeat` builds.

    python bench/public.py
    python bench/public.py --store redis --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from redis_servers import RedisServer  # noqa: E402

from bench import _common as c  # noqa: E402

TARGET_RATIO = 0.8
TARGET_REPUBLISH_MS = 200


# -- HTTP ------------------------------------------------------------------------------
def fetch_public(api: c.Server, env: dict[str, str]) -> dict[str, tuple[bytes, str, str]]:
    """(body, ETag, content type) of the JWKS and of the status list a grant points to."""
    source = c.add_client_json(Path(env["STATUSPASS_KEYS_DIR"]).parent, "src", "source", env=env)
    now = datetime.now(UTC)
    out: dict[str, tuple[bytes, str, str]] = {}
    with httpx.Client(base_url=api.url, timeout=30) as http:
        from app.tokens import generate_nrn

        nrn = generate_nrn(random.Random(5))
        r = http.put(
            "/v1/entitlements/social_tariff",
            json={
                "nrn": nrn,
                "holder": {"given_name": "Jan", "family_name": "Peeters"},
                "valid_from": c.rfc3339(now - timedelta(days=1)),
                "valid_until": c.rfc3339(now + timedelta(days=365)),
            },
            headers={"Authorization": f"Bearer {source}"},
        )
        r.raise_for_status()
        from app.auth import mint_dev_token
        from app.config import load_settings

        token = mint_dev_token(load_settings(env), nrn, now, 600)
        proof = http.post(
            "/v1/me/proofs",
            json={"type": "social_tariff", "qr": []},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["token"]
        import base64

        claims = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))
        list_path = "/v1/status-lists/" + claims["status"]["status_list"]["uri"].rsplit("/", 1)[1]
        for name, path in (("jwks", "/.well-known/jwks.json"), ("list", list_path)):
            r = http.get(path)
            r.raise_for_status()
            out[name] = (r.content, r.headers["etag"], r.headers["content-type"])
            out[name + "_path"] = (path.encode(), "", "")
    return out


def run_http(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = {**c.statuspass_env(work), "STATUSPASS_STATUS_LIST_TTL_S": "4"}
    server: RedisServer | None = None
    if opts.store == "redis":
        server = RedisServer.start(work / "redis", extra=c.production_redis_args())
        env["STATUSPASS_STORE_URL"] = server.url
    try:
        args = ["statuspass", "serve", "--host", "127.0.0.1", "--workers", str(opts.workers)]
        args += ["--server", c.SERVER]
        with c.serve(
            "sp-public", args, env=env, workdir=work, ready_path="/ready", pin=True
        ) as api:
            public = fetch_public(api, env)
            files = work / "bare-bytes"
            files.mkdir(exist_ok=True)
            for name in ("jwks", "list"):
                body, etag, media = public[name]
                (files / f"{name}.body").write_bytes(body)
                (files / f"{name}.meta").write_text(json.dumps({"etag": etag, "media": media}))
            bare_env = {"BENCH_BARE_BYTES": str(files)}
            with c.bare_server(work, workers=opts.workers, pin=True, env=bare_env) as bare:
                return measure_pairs(opts, api, bare, public)
    finally:
        if server is not None:
            server.stop()


def measure_pairs(
    opts: argparse.Namespace, api: c.Server, bare: c.Server, public: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("jwks", "list"):
        etag = public[name][1]
        path = public[name + "_path"][0].decode()
        for conditional in (False, True):
            label = f"{name} {'304' if conditional else '200'}"
            header = etag if conditional else None
            runs: dict[str, list[c.LoadResult]] = {"service": [], "bare": []}
            for _ in range(opts.rounds):
                for who, srv, url in (
                    ("bare", bare, f"{bare.url}/bytes/{name}"),
                    ("service", api, api.url + path),
                ):
                    runs[who].append(
                        c.measure_get(f"{who} {label}", url, opts, srv, if_none_match=header)
                    )
            svc, ref = c.median_round(runs["service"], runs["bare"])
            expected = 304 if conditional else 200
            out[label] = {
                "service": vars(svc),
                "bare": vars(ref),
                "ratio": round(svc.rps / ref.rps, 3),
                "round_ratios": [
                    round(m.rps / b.rps, 3)
                    for m, b in zip(runs["service"], runs["bare"], strict=True)
                ],
                "status": expected,
                "max_latency_ms": max(r.latency_ms["max"] for r in runs["service"]),
            }
    return out


# -- republish -------------------------------------------------------------------------
async def republish(store_kind: str, opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    from app.config import load_settings
    from app.domain.ports import STATUS_LIST_SIZE
    from app.domain.statuslists import StatusListPublisher
    from app.storage import open_store
    from app.tokens import SigningKey

    server: RedisServer | None = None
    if store_kind == "redis":
        server = RedisServer.start(work / "redis-republish", extra=c.production_redis_args())
        url = server.url
    else:
        url = f"sqlite:///{work / 'republish.sqlite3'}"
    store = await open_store(url)
    try:
        ref = await store.allocate_status_ref("0" * 64)
        rng = random.Random(11)
        allocated = int(STATUS_LIST_SIZE * opts.fill)
        set_ = rng.sample(range(STATUS_LIST_SIZE), allocated // 10)
        await fill(store_kind, store, url, ref.list_id, set_, rng)
        settings = load_settings({**c.statuspass_env(work), "STATUSPASS_STORE_URL": url})
        key = SigningKey.generate("ES256")
        times: list[float] = []
        size = 0
        for k in range(opts.repeat):
            publisher = StatusListPublisher(store, settings, lambda: key)
            now = datetime.now(UTC) + timedelta(seconds=k)
            start = time.perf_counter()
            published = await publisher.get(ref.list_id, now)
            times.append((time.perf_counter() - start) * 1000)
            assert published is not None
            size = len(published.token)
        return {
            "store": store_kind,
            "entries": STATUS_LIST_SIZE,
            "non_zero": len(set_),
            "token_bytes": size,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "runs_ms": [round(t, 1) for t in times],
        }
    finally:
        await store.close()
        if server is not None:
            server.stop()


async def fill(
    kind: str, store: Any, url: str, list_id: str, indexes: list[int], rng: random.Random
) -> None:
    """Statuses 1 and 2 at `indexes`, written straight into the store's own format."""
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO status_entries (list_id, idx, status) VALUES (?, ?, ?)",
                [(int(list_id), i, rng.choice((1, 2))) for i in indexes],
            )
        return
    import redis

    from app.storage.redis.keys import Layout

    layout = Layout(16)
    place = layout.list_place(list_id)
    assert place is not None
    with redis.Redis.from_url(url) as r:
        pipe = r.pipeline(transaction=False)
        key = layout.bits_key(str(place[0]), place[1])
        for i in indexes:
            pipe.execute_command("BITFIELD", key, "SET", "u2", f"#{i}", rng.choice((1, 2)))
        pipe.execute()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    c.add_load_args(parser)
    parser.set_defaults(duration=5, warmup=1, rounds=3)
    parser.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--fill", type=float, default=0.5, help="share of the list allocated")
    parser.add_argument("--repeat", type=int, default=7, help="republish builds timed")
    opts = parser.parse_args()
    c.require_wrk()
    work = c.workdir("public")
    payload: dict[str, Any] = {
        "benchmark": "public",
        "command": " ".join(["python", *sys.argv]),
        "machine": c.machine(),
        "settings": dict(vars(opts)),
    }
    payload["http"] = run_http(opts, work)
    payload["republish"] = [
        asyncio.run(republish(kind, opts, work)) for kind in ("sqlite", "redis")
    ]
    print(f"\n{'endpoint':12} {'service':>9} {'bare':>9} {'ratio':>7}  max ms  verdict")
    ok = True
    for label, row in payload["http"].items():
        good = row["ratio"] >= TARGET_RATIO
        ok &= good
        print(
            f"{label:12} {row['service']['rps']:9.0f} {row['bare']['rps']:9.0f}"
            f" {row['ratio']:7.1%} {row['max_latency_ms']:7.1f}  {c.verdict(good)}"
        )
    for rep in payload["republish"]:
        good = rep["max_ms"] <= TARGET_REPUBLISH_MS
        ok &= good
        print(
            f"republish 2^20 ({rep['store']}, {rep['non_zero']:,} set):"
            f" median {rep['median_ms']} ms, max {rep['max_ms']} ms"
            f" (<= {TARGET_REPUBLISH_MS} ms) {c.verdict(good)}"
        )
    payload["pass"] = ok
    print(f"results: {c.save('public', payload)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
