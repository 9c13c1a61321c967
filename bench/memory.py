"""Redis memory per stored entitlement and per online check (issue 22), on a private
redis-server with docs/redis.conf (AOF on, stopped by PID at the end).

* entitlements: `used_memory` before and after N upserts sent through
  ``POST /v1/entitlements:batch`` of ``statuspass serve`` (one worker), audit records of
  the ingest included; bytes per line. Target <= 300 B.
* checks: in process, on the store itself (`open_store`): M proofs saved as issuance
  does, then one online check of each (`check_and_record` with the event a verification
  writes); `used_memory` after the checks less after the proofs, per check: the audit
  record and the citizen's index entry, kept for the window (target <= 250 B), and with
  the checks' count and organisations in the proof's hash, which expires minutes later.
  The proofs' own bytes (they expire with their TTL) are reported per issuance beside it.

    python bench/memory.py                         # 100 000 lines, 20 000 checks
    python bench/memory.py --lines 1000000 --checks 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import redis  # noqa: E402
from redis_servers import RedisServer  # noqa: E402

from bench import _common as c  # noqa: E402
from bench.ingest import TYPE, batch_body, post_batch  # noqa: E402

TARGET_ENTITLEMENT = 300
TARGET_CHECK = 250


def used_memory(url: str) -> int:
    with redis.Redis.from_url(url) as r:
        return int(r.info("memory")["used_memory"])


def entitlements(n: int) -> dict[str, Any]:
    work = c.workdir("memory-ent")
    server = RedisServer.start(work / "redis", extra=c.production_redis_args())
    try:
        env = {**c.statuspass_env(work), "STATUSPASS_STORE_URL": server.url}
        out = subprocess.run(
            ["statuspass", "clients", "add", "--name", "ingest", "--role", "source",
             "--types", TYPE, "--json"],
            env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        key = json.loads(out)["api_key"]
        lines = batch_body(n)
        args = ["statuspass", "serve", "--host", "127.0.0.1", "--workers", "1"]
        with c.serve(
            "memory-ent", args, env=env, workdir=work, ready_path="/ready", pin=False
        ) as api:
            before = used_memory(server.url)
            took, outcomes, _ = post_batch(api.url, key, lines)
            after = used_memory(server.url)
        per = (after - before) / n
        return {"lines": n, "seconds": round(took, 1), "outcomes": outcomes,
                "used_memory_before": before, "used_memory_after": after,
                "bytes_per_entitlement": round(per)}  # fmt: skip
    finally:
        server.stop()


async def _checks(url: str, m: int, per_subject: int) -> dict[str, Any]:
    from app.domain.records import VALID, AuditEvent, CheckRequest, ProofRecord
    from app.storage import open_store

    store = await open_store(url)
    now = datetime.now(UTC).replace(microsecond=0)
    people = [secrets.token_hex(32) for _ in range(max(1, m // per_subject))]
    subjects = [people[i % len(people)] for i in range(m)]
    jtis = [secrets.token_urlsafe(16) for _ in range(m)]
    try:
        refs = [await store.allocate_status_ref(s) for s in subjects]
        start = used_memory(url)
        for jti, subject, ref in zip(jtis, subjects, refs, strict=True):
            proof = ProofRecord(jti=jti, kid="k-2026-12", subject=subject, type=TYPE,
                                status_ref=ref, name="J. PEETERS", attributes={},
                                issued_at=now, expires_at=now + timedelta(minutes=5))  # fmt: skip
            issue = AuditEvent(at=now, actor="citizen:" + subject[:16], action="issue",
                               type=TYPE, jti=jti, subject=subject)  # fmt: skip
            await store.save_proof(proof, secrets.token_hex(16), issue)
        issued = used_memory(url)
        sem = asyncio.Semaphore(32)

        async def check(jti: str, subject: str, ref: Any) -> None:
            event = AuditEvent(at=now, actor="c0ffee00c0ffee00", action="verify", type=TYPE,
                               jti=jti, result="valid", subject=subject,
                               org="Stedelijk Museum Gent",
                               verification_id=secrets.token_urlsafe(12))  # fmt: skip
            async with sem:
                await store.check_and_record(CheckRequest(
                    ref=ref, jti=jti, subject=None, org="c0ffee00c0ffee00", now=now,
                    seen_window_s=300, audit_by_status={VALID: event, -1: event}))  # fmt: skip

        await asyncio.gather(*(check(*a) for a in zip(jtis, subjects, refs, strict=True)))
        checked = used_memory(url)
        # the checks of each jti (a count and the organisations, fields of its proof's
        # hash) go with the proof, minutes later (its TTL); what stays for the window is
        # the audit record and its index entry
        with redis.Redis.from_url(url) as r:
            for key in r.scan_iter(match="*:proof:*", count=1000):
                seen = [f for f in r.hkeys(key) if f == b"n" or f.startswith(b"o")]
                if seen:
                    r.hdel(key, *seen)
        kept = used_memory(url)
    finally:
        await store.close()
    return {"checks": m, "checks_per_subject": per_subject,
            "bytes_per_issuance": round((issued - start) / m),
            "bytes_per_check": round((kept - issued) / m),
            "bytes_per_check_with_seen_keys": round((checked - issued) / m)}  # fmt: skip


def checks(m: int, per_subject: int) -> dict[str, Any]:
    work = c.workdir("memory-check")
    server = RedisServer.start(work / "redis", extra=c.production_redis_args())
    try:
        return asyncio.run(_checks(server.url, m, per_subject))
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument(
        "--checks-per-subject", type=int, default=15,
        help="checks of one citizen in the window (a million a day over two million"
        " holders, 30 days: 15); 1 = every check of another citizen (the worst case)",
    )  # fmt: skip
    opts = parser.parse_args()
    payload: dict[str, Any] = {"benchmark": "memory", "command": " ".join(["python", *sys.argv]),
                               "machine": c.machine()}  # fmt: skip
    if opts.lines:
        ent = payload["entitlements"] = entitlements(opts.lines)
        ok = ent["bytes_per_entitlement"] <= TARGET_ENTITLEMENT
        print(f"per entitlement: {ent['bytes_per_entitlement']} B ({ent['lines']:,} lines)"
              f" <= {TARGET_ENTITLEMENT}: {c.verdict(ok)}")  # fmt: skip
    if opts.checks:
        chk = payload["checks"] = checks(opts.checks, opts.checks_per_subject)
        ok = chk["bytes_per_check"] <= TARGET_CHECK
        print(f"per check ({opts.checks_per_subject} a citizen): {chk['bytes_per_check']} B"
              f" kept for the window <= {TARGET_CHECK}: {c.verdict(ok)};"
              f" {chk['bytes_per_check_with_seen_keys']} B with the seen counts (minutes);"
              f" per issuance (proof, code, audit): {chk['bytes_per_issuance']} B")  # fmt: skip
    print(f"results: {c.save('memory', payload)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
