"""The latency tail's floor: what the least an audited online check can do reaches under
the load test's own traffic.

The tail target (p99 ≤ 20 ms and p99.9 ≤ 50 ms at half the maximum rate, Redis, 2
workers) is measured by `loadtests/run.sh` with Locust on the same two cores. This runs
the same kind of load, Locust users sending one request at a time with a think time,
against `bench/_bare.py` with 2 workers, on two paths in turn:

* `/verify`: the bare verify (signature, claims), no store: what the shared machine and
  the load generator alone do to the tail;
* `/verify-store`: the same plus one durable Redis write before answering (a status bit
  read and a record appended, `appendfsync` as `--appendfsync` says, the rest of
  docs/redis.conf): the floor of any check that is recorded durably before its answer.

Each run reports Locust's percentiles and the fsyncs Redis's latency monitor saw take
10 ms or more (`aof-fsync-always`, one entry a second at most: the seconds with one).

    python bench/tail.py --users 305 --duration 120          # about 5 minutes in all
    python bench/tail.py --appendfsync everysec

Everything runs on 127.0.0.1 and is stopped by PID; results in bench/results/tail-*.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from redis_servers import RedisServer  # noqa: E402

from bench import _common as c  # noqa: E402

LOCUSTFILE = Path(__file__).resolve().parent / "tail_locustfile.py"
TYPE = "social_tariff"


def _busy(before: list[int], after: list[int]) -> float:
    """Cores busy between two reads of /proc/stat's cpu line (idle and iowait left out)."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    idle = delta[3] + delta[4]
    total = sum(delta[:8])
    return (os.cpu_count() or 1) * (total - idle) / total if total else 0.0


def _cpu_line() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def run_locust(
    opts: argparse.Namespace, host: str, path: str, tokens: Path, out: Path
) -> dict[str, Any]:
    env = {
        **os.environ,
        "TAIL_TOKENS": str(tokens),
        "TAIL_PATH": path,
        "TAIL_WAIT_MIN": str(opts.wait[0]),
        "TAIL_WAIT_MAX": str(opts.wait[1]),
    }
    locust = Path(sys.executable).parent / "locust"
    args = [str(locust), "-f", str(LOCUSTFILE), "--headless", "--host", host]
    args += ["-u", str(opts.users), "-r", str(opts.spawn_rate), "-t", f"{opts.duration}s"]
    args += ["--stop-timeout", "5", "--csv", str(out), "--only-summary", "--loglevel", "WARNING"]
    cpu0 = _cpu_line()
    with open(f"{out}.log", "wb") as log:
        subprocess.run(
            args, env=env, check=True, timeout=opts.duration + 90, stdout=log, stderr=log
        )
    busy = _busy(cpu0, _cpu_line())
    with open(f"{out}_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {
        "path": path,
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50_ms": float(row["50%"]),
        "p99_ms": float(row["99%"]),
        "p99.9_ms": float(row["99.9%"]),
        "max_ms": float(row["Max Response Time"]),
        "machine_cores_busy": round(busy, 2),
    }


def fsync_events(server: RedisServer) -> dict[str, Any]:
    """Seconds with an AOF fsync of 10 ms or more, and the worst, since the last reset."""
    with server.client() as r:
        history = r.execute_command("LATENCY", "HISTORY", "aof-fsync-always") or []
        r.execute_command("LATENCY", "RESET")
    worst = sorted(int(ms) for _, ms in history)
    return {
        "seconds_with_fsync_over_10ms": len(worst),
        "median_of_those_ms": worst[len(worst) // 2] if worst else None,
        "worst_ms": worst[-1] if worst else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=305)
    parser.add_argument("--spawn-rate", type=int, default=50)
    parser.add_argument("--duration", type=int, default=120, help="seconds per path")
    parser.add_argument("--wait", default="0.1,0.5", help="think time MIN,MAX in seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--appendfsync", default="always", choices=["always", "everysec"])
    parser.add_argument("--paths", default="/verify,/verify-store")
    opts = parser.parse_args()
    low, high = (float(x) for x in opts.wait.split(","))
    opts.wait = (low, high)
    if not 1 <= opts.duration <= 3600:
        parser.error("--duration is 1 to 3600 seconds")

    work = c.workdir("tail")
    print(f"work dir {work}; {opts.users} users, think {low}-{high} s, {opts.duration} s a path")
    server = RedisServer.start(
        work / "redis", appendfsync=opts.appendfsync, extra=c.production_redis_args()
    )
    payload: dict[str, Any] = {
        "benchmark": "tail",
        "command": " ".join(["python", *sys.argv]),
        "machine": c.machine(),
        "settings": {**vars(opts), "wait": list(opts.wait)},
        "runs": [],
    }
    try:
        with server.client() as r:
            r.config_set("latency-monitor-threshold", 10)
        env = {"BENCH_BARE_REDIS": server.url}
        with c.bare_server(work, workers=opts.workers, pin=False, env=env) as bare:
            with httpx.Client(base_url=bare.url, timeout=10) as http:
                tokens = [
                    http.post("/sign", json={"type": TYPE}).json()["token"] for _ in range(200)
                ]
            c.require_bare_valid(bare.url + "/verify", tokens[:32])
            token_file = work / "tokens.json"
            token_file.write_text(json.dumps(tokens))
            for path in opts.paths.split(","):
                fsync_events(server)  # reset the monitor
                run = run_locust(opts, bare.url, path, token_file, work / path.strip("/"))
                run["redis"] = fsync_events(server)
                payload["runs"].append(run)
                print(
                    f"  {path:14} {run['rps']:7.0f} req/s  p50 {run['p50_ms']:5.0f}  "
                    f"p99 {run['p99_ms']:5.0f}  p99.9 {run['p99.9_ms']:5.0f}  "
                    f"max {run['max_ms']:5.0f} ms  failures {run['failures']}  "
                    f"machine {run['machine_cores_busy']} cores busy  "
                    f"fsync >= 10 ms in {run['redis']['seconds_with_fsync_over_10ms']} s "
                    f"(worst {run['redis']['worst_ms']} ms)",
                    flush=True,
                )
    finally:
        server.stop()
    print(f"results: {c.save('tail', payload)}")
    return 0 if all(r["failures"] == 0 for r in payload["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
