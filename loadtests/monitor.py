"""Sample the service's processes during a load test: RSS and CPU per process, machine CPU.

Reads /proc only (Linux). Every `--interval` seconds it writes one row per process of the
session `--sid` (the `statuspass serve` parent and its workers) and one `machine` row
(all CPUs busy %, so the load generator's share shows as machine minus service).
Stops when the session has no process left, after `--max-seconds`, or on SIGTERM.

    python loadtests/monitor.py --sid PID --out results/x/resources.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return total - idle, total


def session_procs(sid: int) -> dict[int, tuple[int, float, int]]:
    """pid -> (ppid, cpu seconds, rss bytes) for every process of session `sid`."""
    out: dict[int, tuple[int, float, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        # rest[0] is field 3 (state): ppid=4, session=6, utime=14, stime=15, rss=24
        if int(rest[3]) != sid:
            continue
        cpu = (int(rest[11]) + int(rest[12])) / TICK
        out[int(entry)] = (int(rest[1]), cpu, int(rest[21]) * PAGE)
    return out


def _role(pid: int) -> str:
    """A worker, or multiprocessing's resource tracker (spawned workers come with one)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "worker"
    return "helper" if b"resource_tracker" in cmdline else "worker"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sid", type=int)
    p.add_argument("--out", type=Path)
    p.add_argument(
        "--baseline",
        type=float,
        metavar="SECONDS",
        help="only print how busy the machine is over SECONDS, then exit",
    )
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--max-seconds", type=float, default=3700)
    args = p.parse_args()
    if args.baseline:
        before = machine_cpu()
        time.sleep(args.baseline)
        busy, total = machine_cpu()
        share = (busy - before[0]) / max(total - before[1], 1) * (os.cpu_count() or 1)
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(
            f"machine busy before the run: {100 * share:.0f} % (100 % = one core) "
            f"over {args.baseline:g} s; load average {' '.join(load)}"
        )
        return 0
    if args.sid is None or args.out is None:
        p.error("--sid and --out are required")
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    start = time.monotonic()
    prev_cpu: dict[int, float] = {}
    prev_machine = machine_cpu()
    prev_t = start
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "pid", "role", "rss_mb", "cpu_pct"])
        while not stop and time.monotonic() - start < args.max_seconds:
            time.sleep(args.interval)
            now = time.monotonic()
            procs = session_procs(args.sid)
            if not procs:
                break
            dt = now - prev_t
            for pid, (_ppid, cpu, rss) in sorted(procs.items()):
                role = "parent" if pid == args.sid else _role(pid)
                used = cpu - prev_cpu.get(pid, cpu)
                w.writerow(
                    [
                        f"{now - start:.1f}",
                        pid,
                        role,
                        f"{rss / 2**20:.1f}",
                        f"{100 * used / dt:.0f}",
                    ]
                )
                prev_cpu[pid] = cpu
            busy, total = machine_cpu()
            share = (busy - prev_machine[0]) / max(total - prev_machine[1], 1)
            ncpu = os.cpu_count() or 1
            w.writerow([f"{now - start:.1f}", 0, "machine", "", f"{100 * share * ncpu:.0f}"])
            prev_machine, prev_t = (busy, total), now
            fh.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
