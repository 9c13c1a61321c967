"""CI smoke of the load test: the real pipeline, small and short, so it cannot rot.

`loadtests/run.sh` starts the service on a free loopback port with a fresh store, seeds it
(`loadtests/seed.py`), runs the Locust scenarios headless for a few seconds and summarizes
them. Everything runs as subprocesses: Locust's gevent monkey-patching must never reach
the pytest process.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "loadtests" / "run.sh"

#: every request name the scenarios send; each must have been exercised
ENDPOINTS = {
    "POST /v1/verify {token}",
    "POST /v1/verify {code}",
    "POST /v1/me/proofs",
    "POST /v1/parking-cards/check",
    "GET /.well-known/jwks.json",
    "GET /.well-known/jwks.json (If-None-Match)",
    "GET /v1/status-lists/1",
    "GET /v1/status-lists/1 (If-None-Match)",
    "POST /v1/entitlements:batch",
}


@pytest.mark.slow
def test_load_test_smoke_has_no_failures(tmp_path: Path) -> None:
    results = tmp_path / "results"
    bin_dir = Path(sys.executable).parent
    # both are part of the test set-up (curl from the machine, locust from the dev extra):
    # a missing one is an install error, reported as such rather than skipped
    assert shutil.which("curl"), "loadtests/run.sh needs curl"
    assert (bin_dir / "locust").exists(), "locust is missing: pip install -e '.[dev]'"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATUSPASS_", "LOADTEST_"))}
    env.update(PYTHON=sys.executable, TMPDIR=str(tmp_path))
    cmd = [
        "bash",
        str(RUN),
        "--store",
        "sqlite",
        "--workers",
        "1",
        # enough users that every class gets at least one (Locust splits by weight)
        "--users",
        "24",
        "--spawn-rate",
        "24",
        "--duration",
        "5",
        "--wait",
        "0.05,0.15",
        "--citizens",
        "120",
        "--cards",
        "20",
        "--proofs",
        "40",
        "--counters",
        "1",
        "--max-requests",
        "20000",
        "--results",
        str(results),
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=55)
    except subprocess.TimeoutExpired:
        # TERM lets run.sh's trap stop the service it started; KILL if it hangs
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        pytest.fail("the load-test smoke did not finish within 55 s")
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log[-4000:]

    with (results / "locust_stats.csv").open(newline="") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0, log[-4000:]
    assert int(rows["Aggregated"]["Request Count"]) > 0
    missing = {name for name in ENDPOINTS if int(rows.get(name, {}).get("Request Count", 0)) == 0}
    assert not missing, f"scenario endpoints without requests: {sorted(missing)}"
    assert not (set(rows) - ENDPOINTS - {"Aggregated"}), "unexpected request names"
    summary = (results / "summary.md").read_text()
    assert "0 failures" in summary
    # the service's own count of the run's requests (its /metrics before and after) holds
    # every request Locust recorded, and about half a second more of the same traffic:
    # Locust's final figures leave out a fixed few at the run's start or end (+129 in a
    # 5 s run, +119 in a 12 s one), the service counts them. So the "inside the service"
    # latencies are of the same requests.
    inside = summary.split("## Inside the service", 1)[1]
    line = next(x for x in inside.splitlines() if x.startswith("| **all** |"))
    served = int(line.split("|")[2].strip().replace(",", ""))
    recorded = int(rows["Aggregated"]["Request Count"])
    per_second = float(rows["Aggregated"]["Requests/s"])
    assert recorded <= served <= recorded + per_second, (served, recorded, per_second)
    assert (results / "latency.png").stat().st_size > 0
    # the service was stopped: nothing it started is left in the process group
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
