"""Retention soak on Redis (issue 22): with the audit retention set to minutes, online
checks at a steady rate through `statuspass serve`; does Redis memory level off once the
window is full, while checks keep flowing and the archive grows?

A private redis-server with docs/redis.conf's settings (AOF on, appendfsync always, no
RDB; started on a free loopback port, stopped by PID), `statuspass serve --workers W`
with STATUSPASS_AUDIT_RETENTION_S (the window), STATUSPASS_AUDIT_CHECKPOINT_S (the turn
on which a worker archives what left the window, then signs a checkpoint) and
STATUSPASS_AUDIT_ARCHIVE_DIR (a folder of the work dir). C citizens with social_tariff
and a proof each (re-issued before they end, so every check stays a live one); then
`POST /v1/verify {token}` paced at --rate checks/s by a few concurrent HTTP clients for
--duration seconds. Every --sample seconds: Redis `used_memory`, keys, checks answered
so far, the archive's segments and bytes. At each third's end: bytes by kind of key
(`MEMORY USAGE` over every key: what grew, if anything did).

Verdict: the mean `used_memory` of the last third within ±--band of the middle third's
(the window fills --duration / --retention times: it is full before the middle third
starts), the check rate of the last third >= 90% of --rate with no failed request, and
the archive grew during the last third.

    python bench/soak.py                                  # retention 120 s, 12 min, 100/s
    python bench/soak.py --retention 60 --duration 360 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import redis  # noqa: E402
from redis_servers import RedisServer  # noqa: E402

from bench import _common as c  # noqa: E402
from bench.stores import TYPE, env_for, seed  # noqa: E402

#: proofs of social_tariff live at most 900 s: re-issued well before
REISSUE_S = 600
_KIND = re.compile(rb"^\{(sp|spc|rl)(?::([^}]*))?\}:?([a-z]*)")


@dataclass
class Load:
    """What the clients did, updated as they go (read by the sampler)."""

    ok: int = 0
    failed: int = 0
    results: Counter[str] = field(default_factory=Counter)
    #: (time.monotonic() when sent, milliseconds to the answer) of every answered request
    latencies_ms: list[tuple[float, float]] = field(default_factory=list)
    proofs: list[str] = field(default_factory=list)
    stop: bool = False


def key_kind(key: bytes) -> str:
    """`{sp:3}:verif:…` -> `verif`, `{sp:g}:checkpoints` -> `g:checkpoints`, a numeric
    code -> `code`, a rate counter -> `rate`."""
    m = _KIND.match(key)
    if m is None:
        return "other"
    if m[1] == b"spc":
        return "code"
    if m[1] == b"rl":
        return "rate"
    name = m[3].decode()
    return f"g:{name}" if m[2] == b"g" else name


def breakdown(url: str) -> dict[str, list[int]]:
    """kind -> [keys, bytes] over every key (MEMORY USAGE, Redis's estimate)."""
    out: dict[str, list[int]] = {}
    with redis.Redis.from_url(url) as r:
        for key in r.scan_iter(count=1000):
            size = r.memory_usage(key) or 0
            row = out.setdefault(key_kind(key), [0, 0])
            row[0] += 1
            row[1] += size
    return dict(sorted(out.items(), key=lambda kv: -kv[1][1]))


def archive_size(folder: Path) -> tuple[int, int]:
    """(segments, bytes) in the archive folder."""
    if not folder.exists():
        return 0, 0
    files = list(folder.glob("segment-*.audit.gz"))
    return len(files), sum(f.stat().st_size for f in files)


async def drive(url: str, verifier: str, load: Load, rate: float, clients: int) -> None:
    """Checks at `rate` per second, each at its slot in a fixed schedule (a client that
    falls behind sends at once; `rate` 0: each client sends its next check as soon as it
    has the answer), over `clients` keep-alive connections, until stopped."""
    start = time.monotonic()
    counter = 0
    headers = {"Authorization": f"Bearer {verifier}"}

    async def client() -> None:
        nonlocal counter
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
            while not load.stop:
                i = counter
                counter += 1
                delay = start + i / rate - time.monotonic() if rate else 0.0
                if delay > 0:
                    await asyncio.sleep(delay)
                token = load.proofs[i % len(load.proofs)]
                sent = time.monotonic()
                try:
                    r = await http.post("/v1/verify", json={"token": token})
                except httpx.HTTPError:
                    load.failed += 1
                    continue
                load.latencies_ms.append((sent, (time.monotonic() - sent) * 1000))
                if r.status_code == 200:
                    load.ok += 1
                    load.results[r.json().get("result", "?")] += 1
                else:
                    load.failed += 1

    await asyncio.gather(*(client() for _ in range(clients)))


def reissue(url: str, ids: list[str]) -> list[str]:
    with httpx.Client(base_url=url, timeout=30) as http:
        out = []
        for token in ids:
            r = http.post(
                "/v1/me/proofs",
                json={"type": TYPE, "qr": []},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            out.append(r.json()["token"])
        return out


def sampler(
    opts: argparse.Namespace,
    redis_url: str,
    archive: Path,
    load: Load,
    samples: list[dict[str, Any]],
    breakdowns: list[dict[str, Any]],
    t0: float,
) -> None:
    """Every --sample seconds a row; a breakdown at the end of each third."""
    thirds = [opts.duration * k / 3 for k in (1, 2)]
    with redis.Redis.from_url(redis_url) as r:
        while not load.stop:
            elapsed = time.monotonic() - t0
            info = r.info("memory")
            segs, size = archive_size(archive)
            row = {"t": round(elapsed, 1), "used_memory": int(info["used_memory"]),
                   "keys": int(r.dbsize()), "checks": load.ok, "failed": load.failed,
                   "segments": segs, "archive_bytes": size}  # fmt: skip
            samples.append(row)
            print(f"  t={row['t']:6.0f} s  used_memory {row['used_memory'] / 1e6:7.2f} MB"
                  f"  keys {row['keys']:6}  checks {row['checks']:8,}  failed {row['failed']}"
                  f"  archive {segs} segments, {size / 1e3:8.1f} kB", flush=True)  # fmt: skip
            if thirds and elapsed >= thirds[0] - opts.sample / 2:
                thirds.pop(0)
                breakdowns.append({"t": round(elapsed), "kinds": breakdown(redis_url)})
            next_at = t0 + (len(samples)) * opts.sample
            while not load.stop and time.monotonic() < next_at:
                time.sleep(0.2)


def third(samples: list[dict[str, Any]], k: int, duration: float) -> list[dict[str, Any]]:
    lo, hi = duration * k / 3, duration * (k + 1) / 3
    return [s for s in samples if lo <= s["t"] < hi + 1]


def run(opts: argparse.Namespace) -> dict[str, Any]:
    work = c.workdir("soak")
    archive = work / "archive"
    server = RedisServer.start(work / "redis", extra=c.production_redis_args())
    print(f"work dir {work}; redis-server pid {server.proc.pid} on {server.port}", flush=True)
    try:
        env = {
            **env_for(work, server.url),
            "STATUSPASS_AUDIT_RETENTION_S": str(opts.retention),
            "STATUSPASS_AUDIT_CHECKPOINT_S": str(opts.checkpoint),
            "STATUSPASS_AUDIT_ARCHIVE_DIR": str(archive),
        }
        args = ["statuspass", "serve", "--host", "127.0.0.1", "--workers", str(opts.workers)]
        with c.serve("soak", args, env=env, workdir=work, ready_path="/ready", pin=False) as api:
            verifier, ids, proofs = seed(api, env, opts.citizens)
            load = Load(proofs=proofs)
            samples: list[dict[str, Any]] = []
            breakdowns: list[dict[str, Any]] = []
            t0 = time.monotonic()
            watcher = threading.Thread(
                target=sampler, args=(opts, server.url, archive, load, samples, breakdowns, t0)
            )
            watcher.start()

            async def main() -> None:
                task = asyncio.create_task(drive(api.url, verifier, load, opts.rate, opts.clients))
                next_reissue = t0 + REISSUE_S
                while time.monotonic() - t0 < opts.duration:
                    await asyncio.sleep(0.5)
                    if time.monotonic() >= next_reissue:
                        load.proofs = await asyncio.to_thread(reissue, api.url, ids)
                        next_reissue += REISSUE_S
                load.stop = True
                await task

            try:
                asyncio.run(main())
            finally:
                load.stop = True
                watcher.join()
            breakdowns.append({"t": round(time.monotonic() - t0), "kinds": breakdown(server.url)})
        return {"work": work, "samples": samples, "breakdowns": breakdowns,
                "results": dict(load.results), "failed": load.failed,
                "latency_ms": percentiles([ms for _t, ms in load.latencies_ms])}  # fmt: skip
    finally:
        server.stop()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {f"p{q}": round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))], 2)
            for q in (50, 99)}  # fmt: skip


def verdict(opts: argparse.Namespace, out: dict[str, Any]) -> bool:
    samples = out["samples"]
    mid, last = third(samples, 1, opts.duration), third(samples, 2, opts.duration)
    if len(mid) < 2 or len(last) < 2:
        print("too few samples for a verdict: longer --duration or shorter --sample")
        return False
    m_mid = statistics.fmean(s["used_memory"] for s in mid)
    m_last = statistics.fmean(s["used_memory"] for s in last)
    drift = m_last / m_mid - 1
    span = last[-1]["t"] - last[0]["t"]
    rate = (last[-1]["checks"] - last[0]["checks"]) / span if span else 0.0
    grew = last[-1]["archive_bytes"] > last[0]["archive_bytes"]
    flat = abs(drift) <= opts.band
    flowing = rate >= 0.9 * opts.rate and out["failed"] == 0
    out["summary"] = {
        "mean_used_memory_middle": round(m_mid), "mean_used_memory_last": round(m_last),
        "min_max_middle": [min(s["used_memory"] for s in mid), max(s["used_memory"] for s in mid)],
        "min_max_last": [min(s["used_memory"] for s in last),
                         max(s["used_memory"] for s in last)],
        "drift": round(drift, 4), "checks_per_s_last_third": round(rate, 1),
        "archive_grew_last_third": grew, "flat": flat, "flowing": flowing,
    }  # fmt: skip
    first_kinds = out["breakdowns"][0]["kinds"] if out["breakdowns"] else {}
    since = out["breakdowns"][0]["t"] if out["breakdowns"] else 0
    for b in out["breakdowns"]:
        print(f"  bytes by kind of key at t={b['t']} s:")
        for kind, (keys, size) in list(b["kinds"].items())[:12]:
            was = first_kinds.get(kind, [0, 0])[1]
            print(f"    {kind:16} {keys:7} keys {size / 1e3:10.1f} kB"
                  f"  ({(size - was) / 1e3:+.1f} kB since t={since} s)")  # fmt: skip
    # a kind of key that grew from each breakdown to the next grows with time, whatever
    # the window: what it adds per hour at this run's checkpoint interval
    growing = {}
    if len(out["breakdowns"]) >= 3:
        sizes = [{k: v[1] for k, v in b["kinds"].items()} for b in out["breakdowns"]]
        hours = (out["breakdowns"][-1]["t"] - out["breakdowns"][0]["t"]) / 3600
        for kind in sizes[-1]:
            series = [s.get(kind, 0) for s in sizes]
            if all(b > a for a, b in itertools.pairwise(series)) and hours:
                growing[kind] = round((series[-1] - series[0]) / hours)
    out["growing_bytes_per_hour"] = growing
    for kind, per_hour in growing.items():
        print(f"  NOTE: {kind} grew at every breakdown: {per_hour / 1e3:,.0f} kB an hour at"
              f" this run's rate and checkpoint interval ({opts.checkpoint} s)")  # fmt: skip
    print(
        f"\nused_memory, mean of the middle third {m_mid / 1e6:.2f} MB, of the last third"
        f" {m_last / 1e6:.2f} MB: {drift:+.1%} (band ±{opts.band:.0%}): {c.verdict(flat)}"
    )
    print(
        f"checks in the last third: {rate:.0f}/s (target {opts.rate:g}/s), failed requests"
        f" {out['failed']}, answers {out['results']}, latency {out['latency_ms']}:"
        f" {c.verdict(flowing)}"
    )
    print(
        f"archive grew in the last third: {last[0]['archive_bytes']:,} ->"
        f" {last[-1]['archive_bytes']:,} bytes: {c.verdict(grew)}"
    )
    return flat and flowing and grew


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--retention", type=int, default=120, help="audit window, seconds")
    parser.add_argument(
        "--checkpoint", type=int, default=0,
        help="seconds between archive + checkpoint turns (default: retention / 4)",
    )  # fmt: skip
    parser.add_argument("--duration", type=int, default=720, help="seconds of load")
    parser.add_argument("--rate", type=float, default=100, help="checks per second")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=1, help="statuspass serve --workers")
    parser.add_argument("--citizens", type=int, default=200, help="holders, a proof each")
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples")
    parser.add_argument("--band", type=float, default=0.05, help="last third vs middle third")
    opts = parser.parse_args()
    opts.checkpoint = opts.checkpoint or max(1, opts.retention // 4)
    if opts.duration < 3 * (opts.retention + opts.checkpoint):
        parser.error("--duration must let the window fill at least three times")
    print(f"retention {opts.retention} s, archive + checkpoint every {opts.checkpoint} s,"
          f" {opts.rate:g} checks/s for {opts.duration} s, {opts.workers} worker(s);"
          f" load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    out = run(opts)
    ok = verdict(opts, out)
    print(f"retention soak: {c.verdict(ok)}")
    payload = {"benchmark": "soak", "command": " ".join(["python", *sys.argv]),
               "machine": c.machine(), "settings": vars(opts), **out}  # fmt: skip
    print(f"results: {c.save('soak', payload)}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
