"""Bulk ingest through ``POST /v1/entitlements:batch``: entitlements per second into SQLite
and into Redis, through ``statuspass serve`` (one worker, BENCH_SERVER).

For each store: a fresh store (a new SQLite file; a redis-server started here on a free
loopback port with the settings of docs/redis.conf: appendonly yes, appendfsync always,
stopped by PID at the end), one source client, then one batch of N upserts of distinct,
valid NRNs (`app.tokens.generate_nrn`) sent as NDJSON in 1 MB body chunks; the clock runs
from the first byte sent to the summary line received. Every result line must be ok /
created. Then the same batch once more ("unchanged" everywhere: the idempotent re-send).

Target (issue 4): >= 20 000 entitlements/s into Redis.

    python bench/ingest.py                      # 100 000 lines, sqlite and redis
    python bench/ingest.py --lines 20000 --stores redis --profile
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from redis_servers import RedisServer  # noqa: E402  (the tests' own redis-server helper)

from bench import _common as c  # noqa: E402

TARGET = 20_000
TYPE = "social_tariff"


def batch_body(n: int, seed: int = 7) -> list[bytes]:
    from app.tokens import generate_nrn

    rng = random.Random(seed)
    nrns: set[str] = set()
    while len(nrns) < n:
        nrns.add(generate_nrn(rng))
    out = []
    for i, nrn in enumerate(sorted(nrns)):
        line = {
            "op": "upsert",
            "type": TYPE,
            "nrn": nrn,
            "holder": {"given_name": f"Jan{i}", "family_name": f"Peeters{i}"},
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2030-01-01T00:00:00Z",
            "id": str(i),
        }
        out.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return out


def chunks(lines: list[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    buf: list[bytes] = []
    n = 0
    for line in lines:
        buf.append(line)
        n += len(line)
        if n >= size:
            yield b"".join(buf)
            buf, n = [], 0
    if buf:
        yield b"".join(buf)


def post_batch(url: str, key: str, lines: list[bytes]) -> tuple[float, dict[str, int], Any]:
    """Seconds from the first byte sent to the summary, outcomes counted, the summary.

    Full duplex over a plain socket (a thread writes the chunked body while this one reads
    result lines): an HTTP client library would send the whole body before reading, and
    the service, which answers line by line as it applies them, would wait on a full
    socket buffer."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=600)
    outcomes: dict[str, int] = {}
    summary = None
    done = 0
    progress_every = max(100_000, len(lines) // 10)

    def write() -> None:
        with contextlib.suppress(OSError):
            for data in chunks(lines):
                sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            sock.sendall(b"0\r\n\r\n")

    start = time.perf_counter()
    sock.sendall(
        f"POST /v1/entitlements:batch HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with sock, sock.makefile("rb") as f:
        status = f.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"batch answered {status!r}")
        while f.readline() not in (b"\r\n", b""):
            pass
        pending = b""
        while summary is None:
            size = int(f.readline().split(b";")[0], 16)
            if not size:
                break
            pending += f.read(size)
            f.readline()
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                res = json.loads(raw)
                if "summary" in res:
                    summary = res["summary"]
                    continue
                name = res.get("outcome") if res.get("ok") else f"error:{res.get('error')}"
                outcomes[name] = outcomes.get(name, 0) + 1
                done += 1
                if done % progress_every == 0:  # the result lines are the progress
                    elapsed = time.perf_counter() - start
                    print(
                        f"    {done:>10,} / {len(lines):,} lines acknowledged,"
                        f" {elapsed:6.1f} s, {done / elapsed:8,.0f} lines/s",
                        flush=True,
                    )
        took = time.perf_counter() - start
    writer.join(timeout=10)
    return took, outcomes, summary


@contextmanager
def store(kind: str, work: Path) -> Iterator[tuple[str, int | None]]:
    """The store URL and the pid of its server process (None for SQLite)."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'ingest.sqlite3'}", None
        return
    server = RedisServer.start(work / "redis", extra=c.production_redis_args())
    try:
        yield server.url, server.proc.pid
    finally:
        server.stop()


def run_one(kind: str, lines: list[bytes], opts: argparse.Namespace) -> dict[str, Any]:
    work = c.workdir(f"ingest-{kind}")
    with store(kind, work) as (url, store_pid):
        env = {**c.statuspass_env(work), "STATUSPASS_STORE_URL": url}
        out = subprocess.run(
            ["statuspass", "clients", "add", "--name", "ingest", "--role", "source",
             "--types", TYPE, "--json"],
            env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        key = json.loads(out)["api_key"]
        args = ["statuspass", "serve", "--host", "127.0.0.1", "--workers", "1"]
        with c.serve(
            f"ingest-{kind}", args, env=env, workdir=work, ready_path="/ready", pin=False
        ) as api:
            spy = None
            if opts.profile and shutil.which("py-spy"):
                raw = c.RESULTS / f"ingest-{kind}-{time.strftime('%Y%m%dT%H%M%S')}.pyspy.txt"
                c.RESULTS.mkdir(parents=True, exist_ok=True)
                spy_args = ["py-spy", "record", "-p", str(api.proc.pid), "--subprocesses"]
                spy_args += ["-r", "200"]
                spy_args += ["-f", "raw", "-o", str(raw), "--nonblocking", "--function"]
                spy = subprocess.Popen(spy_args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                time.sleep(0.5)
            cpu0 = c.cpu_seconds(api.proc.pid), store_pid and c.cpu_seconds(store_pid)
            took, outcomes, summary = post_batch(api.url, key, lines)
            cpu = {
                "service_us_per_line": (c.cpu_seconds(api.proc.pid) - cpu0[0]) * 1e6 / len(lines),
                "store_us_per_line": store_pid
                and (c.cpu_seconds(store_pid) - cpu0[1]) * 1e6 / len(lines),
            }
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
                spy.wait(timeout=60)
            again_took, again, _ = post_batch(api.url, key, lines)
        result: dict[str, Any] = {
            "store": kind,
            "lines": len(lines),
            "seconds": round(took, 2),
            "lines_per_s": round(len(lines) / took),
            "outcomes": outcomes,
            "cpu": cpu,
            "summary": summary,
            "resend_seconds": round(again_took, 2),
            "resend_lines_per_s": round(len(lines) / again_took),
            "resend_outcomes": again,
        }
        if spy is not None and raw.exists():
            result["profile"] = {
                "raw": str(raw),
                "self_by_package": c.self_by_package(raw)[:12],
                "app_hot_spots": c.app_hot_spots(raw, 20),
            }
        if kind == "redis":
            import redis

            with redis.Redis.from_url(url) as r:
                result["redis_used_memory_mb"] = round(r.info("memory")["used_memory"] / 2**20, 1)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--profile", action="store_true", help="py-spy the server (first send)")
    opts = parser.parse_args()
    print(f"generating {opts.lines:,} lines …", flush=True)
    lines = batch_body(opts.lines)
    print(f"{sum(map(len, lines)) / 2**20:.1f} MB of NDJSON", flush=True)
    payload: dict[str, Any] = {
        "benchmark": "ingest",
        "command": " ".join(["python", *sys.argv]),
        "machine": c.machine(),
        "runs": [],
    }
    for kind in opts.stores.split(","):
        res = run_one(kind, lines, opts)
        payload["runs"].append(res)
        print(
            f"  {kind:7} {res['lines_per_s']:8,} lines/s ({res['seconds']} s) {res['outcomes']}"
            f"   re-send: {res['resend_lines_per_s']:,} lines/s {res['resend_outcomes']}",
            flush=True,
        )
        cpu = res["cpu"]
        print(
            f"          CPU per line: service {cpu['service_us_per_line']:.0f} µs"
            + (f", store {cpu['store_us_per_line']:.0f} µs" if cpu["store_us_per_line"] else ""),
            flush=True,
        )
        for frame in res.get("profile", {}).get("app_hot_spots", [])[:15]:
            print(f"      {frame[2]:5.1f}% incl {frame[1]:5.1f}% self  {frame[0]}")
    redis_runs = [r for r in payload["runs"] if r["store"] == "redis"]
    if redis_runs:
        rate = redis_runs[0]["lines_per_s"]
        ok = rate >= TARGET and redis_runs[0]["outcomes"] == {"created": opts.lines}
        payload["target"] = {"redis_lines_per_s": rate, "target": TARGET, "pass": ok}
        print(f"ingest into Redis >= {TARGET:,}/s: {c.verdict(ok)} ({rate:,}/s)")
    print(f"results: {c.save('ingest', payload)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
