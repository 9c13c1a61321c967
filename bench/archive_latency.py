"""Online verify while the audit log is archived (issue 22): p99 of `POST /v1/verify`
during a run of `statuspass audit archive` within 2x of its p99 without.

For each store (a fresh SQLite file; a private redis-server with docs/redis.conf's
settings, started on a free loopback port and stopped by PID): N old check records
(dated from 2026-01-01, ~a million a day, 15 checks a citizen) written as
`statuspass store copy` writes them (`copier_for(store).put_audit`, already hashed: on
SQLite one chain, as the service keeps it; on Redis one chain per shard); then
`statuspass serve` (one worker), a verifier and C citizens with a proof each, and
checks of those proofs through HTTP by a few clients (closed loop: each sends its next
check once it has the answer; or paced with --rate): for --baseline seconds, then while
`statuspass audit archive --before 2026-06-01 --to DIR` moves the N old records out,
then --baseline seconds more. p50/p99 of the checks sent in each period; the target
compares the p99 during the archive run with the p99 before it (measured in the same
run, same clients and server).

    python bench/archive_latency.py                                 # 10^6 records, both stores
    python bench/archive_latency.py --stores sqlite --records 200000 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from redis_servers import RedisServer  # noqa: E402

from bench import _common as c  # noqa: E402
from bench.soak import Load, drive, percentiles  # noqa: E402
from bench.stores import env_for, seed  # noqa: E402

TARGET = 2.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BEFORE = "2026-06-01"
ORGS = [f"Musée communal de la ville {i}" for i in range(50)]


async def fill(url: str, n: int) -> float:
    """N check records in the past, as `store copy` writes them; seconds taken."""
    from app.audit.format import record_hash
    from app.domain.records import GENESIS_HASH, AuditEvent, AuditRecord, encode_event
    from app.storage import copier_for, open_store
    from app.storage.sqlite import SqliteStore

    store = await open_store(url)
    start = time.perf_counter()
    try:
        copier = copier_for(store)
        if isinstance(store, SqliteStore):
            from app.storage.sqlite.audit import AUDIT_CHAIN

            chains = [AUDIT_CHAIN]
        else:
            chains = [f"{k}/{secrets.token_hex(8)}.0" for k in range(await copier.shards())]
        heads = {chain: (0, GENESIS_HASH) for chain in chains}
        rng = random.Random(22)
        people = [secrets.token_hex(32) for _ in range(max(1, n // 15))]
        batch: list[tuple[AuditRecord, bytes]] = []
        for i in range(n):
            subject = people[rng.randrange(len(people))]
            # on Redis a check lives in its holder's shard: the chain of that shard
            chain = chains[int(subject[:8], 16) % len(chains)]
            event = AuditEvent(
                at=T0 + timedelta(milliseconds=86 * i), actor=f"c_{secrets.token_hex(4)}",
                action="verify", type="social_tariff", jti=secrets.token_urlsafe(16),
                result="valid", subject=subject, org=ORGS[i % len(ORGS)],
                verification_id=secrets.token_urlsafe(12),
            )  # fmt: skip
            data = encode_event(event)
            seq, prev = heads[chain]
            digest = record_hash(chain, seq + 1, prev, data)
            batch.append(
                (AuditRecord(chain=chain, seq=seq + 1, event=event, prev=prev, hash=digest), data)
            )
            heads[chain] = (seq + 1, digest)
            if len(batch) == 10_000:
                await copier.put_audit(batch)
                batch = []
        if batch:
            await copier.put_audit(batch)
    finally:
        await store.close()
    return time.perf_counter() - start


def period(load: Load, start: float, end: float) -> dict[str, Any]:
    """p50/p99 of the checks sent in [start, end)."""
    values = [ms for t, ms in load.latencies_ms if start <= t < end]
    return {"checks": len(values), "per_s": round(len(values) / (end - start), 1),
            **percentiles(values)}  # fmt: skip


def _steps(start: float, end: float, step: float) -> list[float]:
    return [start + i * step for i in range(int((end - start) // step))]


def run_store(kind: str, opts: argparse.Namespace) -> dict[str, Any]:
    work = c.workdir(f"archive-{kind}")
    server = None
    if kind == "redis":
        server = RedisServer.start(work / "redis", extra=c.production_redis_args())
        url = server.url
    else:
        url = f"sqlite:///{work / 'store.sqlite3'}"
    try:
        env = env_for(work, url)
        took = asyncio.run(fill(url, opts.records))
        print(f"{kind}: {opts.records:,} old records written in {took:.0f} s ({work})", flush=True)
        args = ["statuspass", "serve", "--host", "127.0.0.1", "--workers", "1"]
        with c.serve(f"archive-{kind}", args, env=env, workdir=work, ready_path="/ready",
                     pin=False) as api:  # fmt: skip
            verifier, _ids, proofs = seed(api, env, opts.citizens)
            load = Load(proofs=proofs)
            marks: dict[str, float] = {}
            archive_out: dict[str, Any] = {}

            def archive() -> None:
                time.sleep(opts.warmup + opts.baseline)
                marks["start"] = time.monotonic()
                cmd = ["statuspass", "audit", "archive", "--before", BEFORE,
                       "--to", str(work / "archive")]  # fmt: skip
                proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                                      timeout=3600, check=False)  # fmt: skip
                marks["end"] = time.monotonic()
                archive_out.update(rc=proc.returncode, out=proc.stdout.strip(),
                                   err=proc.stderr.strip()[-2000:])  # fmt: skip
                time.sleep(opts.baseline)
                load.stop = True

            runner = threading.Thread(target=archive)
            runner.start()
            asyncio.run(drive(api.url, verifier, load, opts.rate, opts.clients))
            runner.join()
        t0 = marks["start"] - opts.baseline
        out = {
            "work": work,
            "archive": {**archive_out, "seconds": round(marks["end"] - marks["start"], 2)},
            "before": period(load, t0, marks["start"]),
            "during": period(load, marks["start"], marks["end"]),
            "after": period(load, marks["end"], marks["end"] + opts.baseline),
            # p99 over time, to tell the archive's phases apart (reading and compressing
            # the records, then dropping them from the store)
            "windows": [
                {"from_s": round(w - marks["start"], 1), **period(load, w, w + opts.window)}
                for w in _steps(t0, marks["end"] + opts.baseline, opts.window)
            ],
            "failed": load.failed,
            "results": dict(load.results),
        }
        if archive_out["rc"] != 0:
            print(f"  audit archive failed ({archive_out['rc']}): {archive_out['err']}")
        return out
    finally:
        if server is not None:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--records", type=int, default=1_000_000, help="old records to archive")
    parser.add_argument("--baseline", type=float, default=20, help="seconds before and after")
    parser.add_argument("--warmup", type=float, default=3, help="seconds not counted")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--rate", type=float, default=0,
                        help="checks per second in all (0: closed loop)")  # fmt: skip
    parser.add_argument("--citizens", type=int, default=64)
    parser.add_argument("--window", type=float, default=5,
                        help="seconds per p99 of the time series printed")  # fmt: skip
    opts = parser.parse_args()
    payload: dict[str, Any] = {"benchmark": "archive_latency", "machine": c.machine(),
                               "command": " ".join(["python", *sys.argv]),
                               "settings": vars(opts), "stores": {}}  # fmt: skip
    ok_all = True
    rows = []
    for kind in opts.stores.split(","):
        res = payload["stores"][kind] = run_store(kind, opts)
        before, during, after = res["before"], res["during"], res["after"]
        ratio = during["p99"] / before["p99"] if before.get("p99") and during.get("p99") else 0.0
        arch = res["archive"]
        ok = bool(ratio) and ratio <= TARGET and res["failed"] == 0 and arch["rc"] == 0
        res["p99_ratio"] = round(ratio, 2)
        ok_all &= ok
        rate = opts.records / arch["seconds"] if arch["seconds"] else 0.0
        rows.append((kind, before, during, after, ratio, ok, arch, rate, res["failed"]))
    print("\nstore    period   checks   per s    p50 ms   p99 ms")
    for kind, before, during, after, ratio, ok, arch, rate, failed in rows:
        for name, p in (("before", before), ("during", during), ("after", after)):
            print(f"{kind:8} {name:7} {p['checks']:7} {p['per_s']:7.0f} {p.get('p50', 0):9.2f}"
                  f" {p.get('p99', 0):8.2f}")  # fmt: skip
        print(f"{kind}: archive run {arch['seconds']} s ({rate:,.0f} records/s): {arch['out']};"
              f" failed checks {failed}; p99 during / before = {ratio:.2f}"
              f" (target <= {TARGET:g}): {c.verdict(ok)}")  # fmt: skip
    for kind, *_ in rows:
        series = " ".join(f"{w['from_s']:+.0f}s:{w.get('p99', 0):.0f}"
                          for w in payload["stores"][kind]["windows"])  # fmt: skip
        print(f"{kind} p99 ms every {opts.window:g} s from the archive's start: {series}")
    print(f"results: {c.save('archive_latency', payload)}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
