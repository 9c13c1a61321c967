"""The audit log at volume: archive size and rate, `audit verify` time.

Fills a fresh SQLite store with N check records shaped like the service's (a verifier's
client id and organisation name, a pseudonym, a jti, a verification id), written as
`statuspass store copy` writes them (bulk, already hashed), signs a checkpoint, then
times `archive_audit` (every record older than the cut) and `verify_audit` over archive
+ store, and reports bytes per archived record.

    python bench/audit.py --records 1000000

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

from app.audit.archive import archive_audit
from app.audit.format import record_hash
from app.audit.segments import ArchiveRead, archive_checkpoints, read_archive
from app.audit.service import sign_checkpoint, verify_audit
from app.domain.events import GENESIS_HASH, encode_event
from app.domain.records import AuditEvent, AuditRecord
from app.keys.audit import load_audit_keys, rotate_audit_key
from app.storage import open_store
from app.storage.copy import SqliteCopier
from app.storage.sqlite import SqliteStore

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


async def _fill(store: SqliteStore, n: int) -> None:
    copier = SqliteCopier(store)
    prev, batch = GENESIS_HASH, []
    for i in range(n):
        event = _event(i)
        data = encode_event(event)
        digest = record_hash("main", i + 1, prev, data)
        batch.append(
            (AuditRecord(chain="main", seq=i + 1, event=event, prev=prev, hash=digest), data)
        )
        prev = digest
        if len(batch) == 10_000:
            await copier.put_audit(batch)
            batch = []
    if batch:
        await copier.put_audit(batch)


async def run(n: int, keep: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="sp-bench-audit-"))
    rotate_audit_key(work / "keys", name="bench.example/audit")
    keys = load_audit_keys(work / "keys")
    store = await open_store(f"sqlite:///{work / 'store.sqlite3'}")
    assert isinstance(store, SqliteStore)
    try:
        t = time.perf_counter()
        await _fill(store, n)
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
        read = ArchiveRead()
        report = await verify_audit(
            store,
            keys.verifiers(),
            external=archive_checkpoints(work / "archive"),
            archive=read_archive(work / "archive", read),
        )
        took = time.perf_counter() - t
        assert report.ok and not read.problems, report.problems[:5]
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
    args = parser.parse_args()
    asyncio.run(run(args.records, args.keep))


if __name__ == "__main__":
    main()
