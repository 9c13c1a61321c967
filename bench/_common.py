"""Shared plumbing of the HTTP benchmarks: servers, wrk runs, seeding, result files.

Everything here talks to 127.0.0.1 only, every load run is bounded by a fixed duration,
and every server started here is stopped by its own PID (its process group, which holds
only the processes it spawned itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WRK_LUA = BENCH / "wrk" / "rotate.lua"
WRK_GET_LUA = BENCH / "wrk" / "get.lua"
# Exactly 30 characters: the issuer length the spec sizes the QR code for.
ISSUER = "https://statuspass.example.org"
assert len(ISSUER) == 30

WRK_MISSING = "wrk not found. Install it (Debian/Ubuntu): apt-get update && apt-get install -y wrk"


# -- command line --------------------------------------------------------------------
def add_load_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="workers per server")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the (ceiling, measured) runs, interleaved; the median is reported",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server to CPU 0 and wrk to CPU 1 (taskset)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the measured endpoints")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit(WRK_MISSING)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int, args: Sequence[str], enabled: bool) -> list[str]:
    if enabled and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu), *args]
    return list(args)


# -- servers -------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + path, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"{server.name} not ready after {timeout}s:\n{server.log.read_text()[-3000:]}"
    )


def stop(server: Server) -> None:
    """Stop one server we started: SIGTERM to its own process group, then SIGKILL."""
    if server.proc.poll() is not None:
        return
    try:
        os.killpg(server.proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=5)


@contextmanager
def serve(
    name: str,
    args: Sequence[str],
    *,
    env: dict[str, str],
    workdir: Path,
    ready_path: str,
    pin: bool,
) -> Iterator[Server]:
    port = free_port()
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            _pin(0, [*args, "--port", str(port)], pin),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals only it
        )
    server = Server(name=name, port=port, proc=proc, log=log)
    try:
        wait_ready(server, ready_path)
        yield server
    finally:
        stop(server)


#: the ASGI server for both the ceiling and the service (same server, fair ratio)
SERVER = os.environ.get("BENCH_SERVER", "auto")  # as `statuspass serve --server`


def bare_server(
    workdir: Path, *, workers: int, pin: bool, env: dict[str, str] | None = None
) -> Any:
    """The ceiling: bench/_bare.py on the same server and settings as `statuspass serve`
    (`env`: extra environment, e.g. BENCH_BARE_BYTES)."""
    env = {**os.environ, "BENCH_BARE_ISSUER": ISSUER, **(env or {})}
    args = [sys.executable, str(BENCH / "_bare.py"), "--workers", str(workers), "--server", SERVER]
    return serve("bare", args, env=env, workdir=workdir, ready_path="/health", pin=pin)


def statuspass_env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STATUSPASS_STORE_URL": f"sqlite:///{workdir / 'statuspass.sqlite3'}",
        "STATUSPASS_KEYS_DIR": str(workdir / "keys"),
        "STATUSPASS_ISSUER": ISSUER,
        "STATUSPASS_DEV_IDP": "1",
        "STATUSPASS_ENV": "development",
    }


def statuspass_server(workdir: Path, *, workers: int, pin: bool) -> Any:
    env = statuspass_env(workdir)
    args = [shutil.which("statuspass") or "statuspass", "serve", "--host", "127.0.0.1"]
    args += ["--workers", str(workers), "--server", SERVER]
    return serve("statuspass", args, env=env, workdir=workdir, ready_path="/ready", pin=pin)


# -- seeding -------------------------------------------------------------------------
@dataclass
class Seeded:
    source_key: str
    verifier_key: str
    citizen_tokens: list[str]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(server: Server, workdir: Path, citizens: int, seed_value: int = 2024) -> Seeded:
    """One source, one verifier, `citizens` people entitled to social_tariff, ID tokens."""
    from app.auth import mint_dev_token
    from app.config import load_settings
    from app.tokens import generate_nrn

    source_key = add_client_json(workdir, "Bench source", "source")
    verifier_key = add_client_json(workdir, "Bench verifier", "verifier")
    settings = load_settings(statuspass_env(workdir))
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    tokens: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for i in range(citizens):
            nrn = generate_nrn(rng)
            body = {
                "nrn": nrn,
                "holder": {"given_name": f"Jan{i}", "family_name": f"Peeters{i}"},
                "valid_from": rfc3339(now - timedelta(days=1)),
                "valid_until": rfc3339(now + timedelta(days=365)),
            }
            r = http.put(
                "/v1/entitlements/social_tariff",
                json=body,
                headers={"Authorization": f"Bearer {source_key}"},
            )
            r.raise_for_status()
            tokens.append(mint_dev_token(settings, nrn, now, 3600))
    return Seeded(source_key=source_key, verifier_key=verifier_key, citizen_tokens=tokens)


def add_client_json(
    workdir: Path,
    name: str,
    role: str,
    types: str = "social_tariff",
    env: dict[str, str] | None = None,
) -> str:
    """A new API client of the service whose environment is `env` (default: the SQLite
    service of `workdir`); its key."""
    out = subprocess.run(
        [
            "statuspass",
            "clients",
            "add",
            "--name",
            name,
            "--role",
            role,
            "--types",
            types,
            "--json",
        ],
        env=env or statuspass_env(workdir),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return str(json.loads(out)["api_key"])


# -- wrk -----------------------------------------------------------------------------
@dataclass
class LoadResult:
    label: str
    rps: float
    requests: int
    duration_s: float
    non_2xx: int
    errors: int
    latency_ms: dict[str, float] = field(default_factory=dict)
    server_cpu_us_per_request: float | None = None
    server_cpu_busy: float | None = None
    #: CPU of the store's server processes (redis-server) and of wrk itself, per request
    store_cpu_us_per_request: float | None = None
    load_cpu_us_per_request: float | None = None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (a server's workers are its children)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        try:
            todo += _children(current)
        except OSError:
            continue
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, its threads and its live descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def write_requests(path: Path, rows: Sequence[tuple[str | None, bytes]]) -> Path:
    """One request a line: ``<Authorization value or ->\\t<JSON body>``."""
    with open(path, "wb") as f:
        for auth, body in rows:
            assert b"\n" not in body and b"\t" not in body
            f.write((auth or "-").encode() + b"\t" + body + b"\n")
    return path


def production_redis_args() -> tuple[str, ...]:
    """docs/redis.conf as redis-server arguments, for the benchmarks' private servers.

    A benchmark measures the store as production runs it. With Redis's defaults instead,
    `auto-aof-rewrite-min-size` is 64 MB, and at ~1.3 KB of AOF per online check a
    verification run crossed it every 35-60 s: each time a forked child wrote the whole
    dataset (0.3-1.7 s, growing with it) on the same two cores and disk, inside a
    store-backed run only (the ceilings write nothing). Left out: `save` (the servers
    keep nothing) and `appendfsync`, which each benchmark sets.
    """
    args: list[str] = []
    for line in (ROOT / "docs" / "redis.conf").read_text().splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#") and key not in ("save", "appendfsync"):
            args += [f"--{key}", value.strip()]
    return tuple(args)


def require_bare_valid(url: str, tokens: Sequence[str], *, rounds: int = 3) -> None:
    """Every ceiling token must verify in every worker of the bare server.

    A ceiling that rejects a token answers 200 all the same (``{"valid": false}``) and
    skips the signature check, so wrk would count a cheaper request as a good one. Each
    request goes over a connection of its own, which the kernel hands to any of the
    server's SO_REUSEPORT workers; `rounds` passes over the tokens reach each worker
    many times.
    """
    for _ in range(rounds):
        for token in tokens:
            r = httpx.post(url, json={"token": token}, timeout=10)
            r.raise_for_status()
            if r.json().get("valid") is not True:
                raise SystemExit(f"the ceiling at {url} rejects its own token: {r.text}")


def wrk(
    label: str,
    url: str,
    requests_file: Path,
    *,
    duration: int,
    connections: int,
    threads: int,
    pin: bool,
    timeout_s: int = 10,
    script: Path = WRK_LUA,
    script_args: Sequence[str] | None = None,
) -> LoadResult:
    exe = require_wrk()
    args = [exe, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"]
    args += ["--timeout", f"{timeout_s}s", "-s", str(script), url, "--"]
    args += [str(requests_file)] if script_args is None else list(script_args)
    proc = subprocess.run(
        _pin(1, args, pin), capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr}\n{proc.stdout}")
    marker = "BENCH_JSON "
    line = next((x for x in proc.stdout.splitlines() if x.startswith(marker)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line[len(marker) :])
    errors = sum(int(data["errors"][k]) for k in ("connect", "read", "write", "timeout"))
    duration_s = data["duration_us"] / 1e6
    return LoadResult(
        label=label,
        rps=data["requests"] / duration_s,
        requests=int(data["requests"]),
        duration_s=round(duration_s, 3),
        non_2xx=int(data["errors"]["status"]),
        errors=errors,
        latency_ms={k: round(v / 1000, 2) for k, v in data["latency_us"].items()},
    )


def measure(
    label: str,
    url: str,
    requests_file: Path,
    opts: argparse.Namespace,
    server: Server | None = None,
    store_pids: Sequence[int] = (),
    *,
    script: Path = WRK_LUA,
    script_args: Sequence[str] | None = None,
) -> LoadResult:
    """Warm up, then one measured run with the same settings for every endpoint.

    Besides the server's CPU per request: that of `store_pids` (redis-server) and of
    wrk, so that what the whole machine spends on a request is known."""
    pin = not opts.no_pin
    if opts.warmup > 0:
        wrk(
            label,
            url,
            requests_file,
            duration=opts.warmup,
            connections=opts.connections,
            threads=opts.threads,
            pin=pin,
            script=script,
            script_args=script_args,
        )
    cpu0 = cpu_seconds(server.proc.pid) if server else 0.0
    store0 = sum(cpu_seconds(pid) for pid in store_pids)
    wrk0 = _children_cpu()
    result = wrk(
        label,
        url,
        requests_file,
        duration=opts.duration,
        connections=opts.connections,
        threads=opts.threads,
        pin=pin,
        script=script,
        script_args=script_args,
    )
    if server is not None and result.requests:
        cpu = cpu_seconds(server.proc.pid) - cpu0
        result.server_cpu_us_per_request = round(cpu / result.requests * 1e6, 1)
        result.server_cpu_busy = round(cpu / result.duration_s, 2)
    if result.requests:
        result.load_cpu_us_per_request = round((_children_cpu() - wrk0) / result.requests * 1e6, 1)
        if store_pids:
            store = sum(cpu_seconds(pid) for pid in store_pids) - store0
            result.store_cpu_us_per_request = round(store / result.requests * 1e6, 1)
    print(
        f"  {label:34} {result.rps:9.0f} req/s  p50 {result.latency_ms['p50']:6.2f} ms"
        f"  p99 {result.latency_ms['p99']:6.2f} ms  non-2xx {result.non_2xx}"
        f"  socket errors {result.errors}"
        f"  server CPU {result.server_cpu_us_per_request} µs/req"
        f" ({result.server_cpu_busy} cores busy)"
        + (
            f", store {result.store_cpu_us_per_request} µs/req"
            if result.store_cpu_us_per_request is not None
            else ""
        )
        + f", wrk {result.load_cpu_us_per_request} µs/req",
        flush=True,
    )
    return result


def measure_get(
    label: str,
    url: str,
    opts: argparse.Namespace,
    server: Server | None = None,
    *,
    if_none_match: str | None = None,
) -> LoadResult:
    """`measure` for plain GETs, with an If-None-Match header when given (wrk counts a
    304 as a success: anything else below 200 or from 400 on is a non-2xx)."""
    return measure(
        label,
        url,
        Path("-"),
        opts,
        server,
        script=WRK_GET_LUA,
        script_args=[if_none_match or "-"],
    )


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk runs to its end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_result(results: Sequence[LoadResult]) -> LoadResult:
    ordered = sorted(results, key=lambda r: r.rps)
    return ordered[len(ordered) // 2]


def median_round(
    measured: Sequence[LoadResult], ceiling: Sequence[LoadResult]
) -> tuple[LoadResult, LoadResult]:
    """The round whose measured / ceiling ratio is the median, as (measured, ceiling).

    Each measured run is compared with the ceiling's run of its own round, a few seconds
    apart: this VM's speed drifts by a third and more within minutes, and the medians of
    the two series taken apart once paired a run from a slowdown with one from before
    it (a 47% "ratio" for an endpoint whose rounds read 73-80%).
    """
    pairs = sorted(
        zip(measured, ceiling, strict=True),
        key=lambda pair: pair[0].rps / pair[1].rps if pair[1].rps else 0.0,
    )
    return pairs[len(pairs) // 2]


# -- profiling -----------------------------------------------------------------------
def profile_endpoint(
    api: Server,
    opts: Any,
    key: str,
    labels: dict[str, str],
    urls: dict[str, str],
    files: dict[str, Path],
    out: Path,
    top: int,
) -> dict[str, Any] | None:
    """py-spy the server while wrk loads endpoint `key`; the summary for the results."""

    def drive() -> None:
        wrk(
            labels[key],
            urls[key],
            files[key],
            duration=opts.duration,
            connections=opts.connections,
            threads=opts.threads,
            pin=not opts.no_pin,
        )

    prof = profile(api, opts.duration, out, drive)
    if prof is None:
        return None
    return {
        "raw": str(prof),
        "self_by_package": self_by_package(prof),
        "app_hot_spots": app_hot_spots(prof),
        "top": top_frames(prof, top),
    }


def profile(server: Server, seconds: int, out: Path, drive: Any) -> Path | None:
    """py-spy the server while `drive()` loads it; returns the flat top-functions file."""
    exe = shutil.which("py-spy")
    if exe is None:
        print("  (py-spy not installed: pip install py-spy)")
        return None
    # the workers, not the master process of a multi-process server
    args = [
        exe,
        "record",
        "-p",
        str(server.proc.pid),
        "--subprocesses",
        "-d",
        str(seconds),
        "-r",
        "250",
    ]
    args += ["-f", "raw", "-o", str(out), "--nonblocking", "--function"]
    spy = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    drive()
    try:
        spy.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    return out if out.exists() else None


# Leaf frames py-spy reports as busy although the thread only waits: the store's
# thread-pool worker blocked on its work queue.
_IDLE_LEAVES = ("_worker (concurrent/futures/thread.py",)


def _samples(raw_profile: Path) -> Iterator[tuple[list[str], int]]:
    for line in raw_profile.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue  # a frame name that holds a newline (a docstring-named code object)
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_LEAVES):
            continue
        yield frames, int(count_s)


def top_frames(raw_profile: Path, limit: int = 25) -> list[tuple[str, float, float]]:
    """From py-spy's collapsed stacks: (function, self %, inclusive %) by inclusive time.

    Percentages are of the busy samples of all threads (idle waits left out).
    """
    total = 0
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    for frames, count in _samples(raw_profile):
        total += count
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return []
    rows = [(f, own.get(f, 0) * 100 / total, n * 100 / total) for f, n in incl.items()]
    rows.sort(key=lambda r: -r[2])
    return rows[:limit]


def self_by_package(raw_profile: Path) -> list[tuple[str, float]]:
    """Self time by top-level package (app.tokens, litestar, jwt, …), % of samples."""
    total = 0
    by: dict[str, int] = {}
    for frames, count in _samples(raw_profile):
        total += count
        leaf = frames[-1]
        where = leaf[leaf.rfind("(") + 1 :].split(":")[0]
        parts = where.split("/")
        if parts[0] == "app" and len(parts) > 2:
            key = "/".join(parts[:2])
        elif "site-packages" in parts:
            key = parts[parts.index("site-packages") + 1]
        else:
            key = parts[0] if len(parts) > 1 else where
        by[key] = by.get(key, 0) + count
    rows = [(k, n * 100 / total) for k, n in by.items()] if total else []
    return sorted(rows, key=lambda r: -r[1])


def app_hot_spots(raw_profile: Path, limit: int = 15) -> list[tuple[str, float, float]]:
    """Frames of our own code (app/…) and of what it calls for JWTs/randomness."""
    rows = top_frames(raw_profile, limit=10_000)
    keep = ("(app/", "/app/", "(jwt/", "(secrets.py", "(random.py")
    skip = ("(app/cli/", "(app/api/edge/middleware.py")
    return [r for r in rows if any(k in r[0] for k in keep) and not any(k in r[0] for k in skip)][
        :limit
    ]


# -- results -------------------------------------------------------------------------
def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"statuspass-bench-{prefix}-"))


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
    }


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"

    def default(obj: Any) -> Any:
        if isinstance(obj, LoadResult):
            return asdict(obj)
        if isinstance(obj, Path):
            return str(obj)
        raise TypeError(type(obj))

    path.write_text(json.dumps(payload, indent=2, default=default) + "\n")
    return path


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def per_second(fn: Any, *, min_time: float = 1.0, repeat: int = 3) -> tuple[float, float]:
    """Calls per second of `fn` (best of `repeat` timed batches) and µs per call."""
    fn()
    n = 1
    while True:  # size a batch to last about min_time
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 4:
            break
        n *= 4
    n = max(1, int(n * min_time / elapsed))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return 1 / best, best * 1e6
