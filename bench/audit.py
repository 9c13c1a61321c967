"""The audit log at volume: archive size and rate, `audit verify` time.

Fills a fresh store with N check records shaped like the service's (a verifier's
client id and organisation name, a pseudonym, a jti, a verification id), written as
`statuspass store copy` writes them (bulk, already hashed, with the citizens' index on
Redis), signs a checkpoint, then times `archive_audit` (every record older than the cut)
and `verify_audit` over archive + store, and reports bytes per archived record.

SQLite: one chain `main`. Redis: a private redis-server with docs/redis.conf (AOF on,
appendfsync always; stopped by PID at the end), the records spread over chains named
as the service names them (`<shard>/<id>.<lane>`, `--lanes` per shard of 16).

    python bench/audit.py --records 1000000
    python bench/audit.py --store redis --records 1000000

Targets (issue 22): archive ≤ 120 bytes per record, ≥ 50,000 records/s; verify of 10⁷
records ≤ 60 s (this prints the rate and what it means for 10⁷).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

import redis
from redis_servers import RedisServer

from app.audit.archive import archive_audit
from app.audit.format import record_hash
from app.audit.service import sign_checkpoint, verify_audit
from app.domain.events import GENESIS_HASH, encode_event
from app.domain.ports import Store
from app.domain.records import AuditEvent, AuditRecord
from app.keys.audit import load_audit_keys, rotate_audit_key
from app.storage import open_store
from app.storage.copy import SqliteCopier
from app.storage.redis.copy import RedisCopier
from app.storage.redis.store import RedisStore
from app.storage.sqlite import SqliteStore
from bench._common import production_redis_args

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORGS = [f"Musée communal de la ville {i}" for i in range(50)]


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        at=T0 + timedelta(milliseconds=86 * i),  # ~a million checks a day
        actor=f"c_{secrets.token_hex(4)}",
        action="verify",
        type="social_tariff",
        jti=secrets.token_urlsafe(16),
        result="valid",
        subject=secrets.token_hex(32),
        org=ORGS[i % len(ORGS)],
        verification_id=secrets.token_urlsafe(12),
    )


def _chains(store: Store, lanes: int) -> list[str]:
    """SQLite's one chain, or `lanes` chains per shard named as a Redis store's writers
    name theirs."""
    if not isinstance(store, RedisStore):
        return ["main"]
    ids = [secrets.token_hex(8) for _ in range(lanes)]
    return [f"{k}/{ids[lane]}.{lane}" for lane in range(lanes) for k in range(16)]


async def _fill(store: Store, n: int, lanes: int) -> None:
    copier = SqliteCopier(store) if isinstance(store, SqliteStore) else RedisCopier(store)
    chains = _chains(store, lanes)
    heads = {chain: (0, GENESIS_HASH) for chain in chains}
    batch = []
    for i in range(n):
        chain = chains[i % len(chains)]
        seq, prev = heads[chain]
        event = _event(i)
        data = encode_event(event)
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


async def run(work: Path, url: str, n: int, keep: float, lanes: int) -> None:
    rotate_audit_key(work / "keys", name="bench.example/audit")
    keys = load_audit_keys(work / "keys")
    store = await open_store(url)
    try:
        t = time.perf_counter()
        await _fill(store, n, lanes)
        print(f"filled {n:,} records in {time.perf_counter() - t:.1f} s ({work})")
        await sign_checkpoint(store, keys.name, keys.private, T0)
        cut = T0 + timedelta(milliseconds=86 * int(n * (1 - keep)))
        t = time.perf_counter()
        result = await archive_audit(
            store, work / "archive", cut, signer=(keys.name, keys.private), now=cut
        )
        took = time.perf_counter() - t
        per = result.bytes / max(result.records, 1)
        print(
            f"archive: {result.records:,} records in {took:.2f} s = "
            f"{result.records / took:,.0f} records/s; {result.bytes:,} bytes = "
            f"{per:.1f} bytes/record (targets: >= 50,000/s, <= 120 B)"
        )
        t = time.perf_counter()
        report = await verify_audit(
            store,
            keys.verifiers(),
            archive=work / "archive",
        )
        took = time.perf_counter() - t
        assert report.ok, report.problems[:5]
        rate = report.records / took
        print(
            f"verify (archive + store): {report.records:,} records in {took:.2f} s = "
            f"{rate:,.0f} records/s; 10^7 records: {1e7 / rate:.0f} s (target <= 60 s)"
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--keep", type=float, default=0.1, help="share left in the store")
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--lanes", type=int, default=4, help="Redis: chains per shard")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sp-bench-audit-"))
    if args.store == "sqlite":
        url = f"sqlite:///{work / 'store.sqlite3'}"
        asyncio.run(run(work, url, args.records, args.keep, args.lanes))
        return
    server = RedisServer.start(work / "redis", appendfsync="always", extra=production_redis_args())
    try:
        asyncio.run(run(work, server.url, args.records, args.keep, args.lanes))
        with redis.Redis.from_url(server.url) as r:
            print(f"redis used_memory after: {int(r.info('memory')['used_memory']):,} B")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
