"""Turn one load-test results folder into `summary.md` and `latency.png`.

Reads what `run.sh` left there: Locust's `locust_stats.csv`, `locust_stats_history.csv`
(with `--csv-full-history`), `locust_failures.csv`, `resources.csv` from monitor.py, and
the service's `/metrics` scraped before and after the run (`metrics_before.txt`,
`metrics_after.txt`).
Exits 1 when any request failed or nothing was sent, so a run with failures is a failed run.

    python loadtests/summarize.py loadtests/results/<run> [--title T] [--command C]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
from collections import defaultdict
from pathlib import Path

AGG = "Aggregated"


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None


def _ms(value: str | None) -> str:
    v = _num(value)
    return "-" if v is None else f"{v:.0f}"


def steady_rps(history: list[dict[str, str]], users: int) -> tuple[float | None, float]:
    """Median aggregated requests/s over the samples taken at full user count, and the
    length of the run in seconds."""
    agg = [r for r in history if r["Name"] == AGG]
    if not agg:
        return None, 0.0
    times = [int(r["Timestamp"]) for r in agg]
    full = [
        float(r["Requests/s"])
        for r in agg
        if int(r["User Count"]) >= users and _num(r["Requests/s"])
    ]
    # the first samples at full count still carry the ramp in Locust's moving window
    full = full[3:] if len(full) > 6 else full
    return (statistics.median(full) if full else None), float(times[-1] - times[0])


def resources(path: Path) -> list[str]:
    rows = _rows(path)
    if not rows:
        return []
    per_pid: dict[str, list[dict[str, str]]] = defaultdict(list)
    machine: list[float] = []
    service_cpu: dict[str, float] = defaultdict(float)
    for r in rows:
        if r["role"] == "machine":
            machine.append(float(r["cpu_pct"]))
        else:
            per_pid[r["pid"]].append(r)
            service_cpu[r["t_s"]] += float(r["cpu_pct"])
    single = len(per_pid) == 1
    lines = ["", "## Service processes", ""]
    lines.append("| process | peak RSS MB | RSS first → last MB | mean CPU % |")
    lines.append("|---|---:|---:|---:|")
    for pid, samples in per_pid.items():
        role = "server (1 process)" if single else samples[0]["role"]
        rss = [float(s["rss_mb"]) for s in samples]
        cpu = [float(s["cpu_pct"]) for s in samples[1:]] or [0.0]
        lines.append(
            f"| {role} {pid} | {max(rss):.0f} | {rss[0]:.0f} → {rss[-1]:.0f} "
            f"| {statistics.mean(cpu):.0f} |"
        )
    busy = [v for v in machine[1:] if v > 0] or machine
    svc = list(service_cpu.values())[1:] or [0.0]
    ncpu = os.cpu_count() or 1
    lines.append("")
    lines.append(
        f"Mean CPU over the run (100 % = one core, {ncpu} cores): service "
        f"{statistics.mean(svc):.0f} %, whole machine {statistics.mean(busy):.0f} % "
        f"(the rest: Locust and anything else running on the machine)."
    )
    return lines


def plot(history: list[dict[str, str]], out: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    by_name: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in history:
        by_name[r["Name"]].append(r)
    agg = by_name.get(AGG, [])
    if not agg:
        return False
    t0 = int(agg[0]["Timestamp"])

    def series(rows: list[dict[str, str]], col: str) -> tuple[list[int], list[float]]:
        """(seconds, values); latencies of 0 (no request in the window yet) are left out."""
        xs, ys = [], []
        for r in rows:
            v = _num(r.get(col))
            if v is not None and (v > 0 or not col.endswith("%")):
                xs.append(int(r["Timestamp"]) - t0)
                ys.append(v)
        return xs, ys

    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 11), sharex=True)
    for col, style in (("50%", "-"), ("95%", "--"), ("99%", ":"), ("99.9%", "-.")):
        ax1.plot(*series(agg, col), style, label=f"all requests p{col.rstrip('%')}")
    ax1.set_ylabel("latency ms (10 s window)")
    ax1.set_yscale("log")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.grid(True, which="both", alpha=0.3)
    for name, rows in sorted(by_name.items()):
        if name != AGG:
            ax2.plot(*series(rows, "99%"), label=name, linewidth=1)
    ax2.set_ylabel("p99 ms per endpoint")
    ax2.set_yscale("log")
    ax2.legend(loc="upper left", fontsize=7)
    ax2.grid(True, which="both", alpha=0.3)
    ax3.plot(*series(agg, "Requests/s"), label="requests/s")
    ax3.plot(*series(agg, "Failures/s"), label="failures/s", color="red")
    ax3.set_ylabel("per second")
    ax3.set_xlabel("seconds since start")
    users = ax3.twinx()
    users.plot(*series(agg, "User Count"), color="grey", alpha=0.5, label="users")
    users.set_ylabel("users")
    ax3.legend(loc="upper left", fontsize=8)
    ax3.grid(True, alpha=0.3)
    fig.suptitle(f"Statuspass load test: {title}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def steady_windows(history: list[dict[str, str]], users: int) -> dict[str, tuple[float, float]]:
    """At full user count, once the ramp has left Locust's 10 s window: the median and
    the worst of the windowed p99 and p99.9 of all requests, in ms."""
    agg = [r for r in history if r["Name"] == AGG and int(r["User Count"]) >= users]
    if len(agg) < 15:
        return {}
    start = int(agg[0]["Timestamp"]) + 10
    rows = [r for r in agg if int(r["Timestamp"]) >= start]
    out: dict[str, tuple[float, float]] = {}
    for col in ("99%", "99.9%"):
        values = [v for r in rows if (v := _num(r[col]))]
        if values:
            out[col] = (statistics.median(values), max(values))
    return out


#: what the service's own histogram can tell (its bucket bounds), in seconds
_TARGETS = (0.02, 0.05)


def _buckets(path: Path) -> dict[str, dict[float, float]]:
    """route -> {upper bound in s: cumulative count} from a /metrics scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[float, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        if family.name != "statuspass_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                out[sample.labels["path"]][float(sample.labels["le"])] = sample.value
    return out


def _bound(cumulative: list[tuple[float, float]], share: float) -> str:
    """The smallest bucket bound under which `share` of the requests fell."""
    total = cumulative[-1][1]
    for bound, count in cumulative:
        if count >= share * total:
            return "> 2.5 s" if bound == float("inf") else f"≤ {bound * 1000:g} ms"
    return "?"


def service_side(folder: Path) -> list[str]:
    """The latency the service itself measured (from the ASGI app's start to its last
    byte sent, per route), from two scrapes of /metrics around the Locust run. Not in it:
    time before the app is called (socket queue, the worker's event loop busy with other
    requests, HTTP parsing) and everything on Locust's side."""
    before, after = folder / "metrics_before.txt", folder / "metrics_after.txt"
    if not (before.exists() and after.exists()):
        return []
    start, end = _buckets(before), _buckets(after)
    rows: list[str] = []
    every: dict[float, float] = defaultdict(float)
    for route in sorted(end):
        earlier = start.get(route, {})
        cumulative = [(b, c - earlier.get(b, 0.0)) for b, c in sorted(end[route].items())]
        if route in ("/metrics", "unmatched") or not cumulative or cumulative[-1][1] <= 0:
            continue
        for bound, count in cumulative:
            every[bound] += count
        rows.append(_service_row(f"`{route}`", cumulative))
    if not rows:
        return []
    rows.append(_service_row("**all**", sorted(every.items())))
    return [
        "",
        "## Inside the service",
        "",
        "From the service's own latency histogram (two scrapes of `/metrics` around the "
        "run: from the moment the ASGI app is called to its last byte sent; not the time "
        "a request waits before that, nor Locust's side). Bounds are the histogram's "
        "buckets.",
        "",
        "| route | requests | within 20 ms | within 50 ms | p99 | p99.9 |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
    ]


def _service_row(name: str, cumulative: list[tuple[float, float]]) -> str:
    total = cumulative[-1][1]
    within = {b: c for b, c in cumulative}
    shares = " | ".join(f"{100 * within.get(t, 0.0) / total:.2f} %" for t in _TARGETS)
    return (
        f"| {name} | {total:,.0f} | {shares} "
        f"| {_bound(cumulative, 0.99)} | {_bound(cumulative, 0.999)} |"
    )


def summarize(folder: Path, title: str, command: str) -> tuple[str, int]:
    stats = _rows(folder / "locust_stats.csv")
    history = _rows(folder / "locust_stats_history.csv")
    failures = _rows(folder / "locust_failures.csv")
    agg_hist = [r for r in history if r["Name"] == AGG]
    users = max((int(r["User Count"]) for r in agg_hist), default=0)
    steady, seconds = steady_rps(history, users)
    endpoints = [r for r in stats if r["Name"] != AGG]
    total = next((r for r in stats if r["Name"] == AGG), None)
    n_req = int(total["Request Count"]) if total else 0
    n_fail = int(total["Failure Count"]) if total else 0

    lines: list[str] = [f"# Load test: {title}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines.append(
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; Locust on the same machine."
    )
    before = folder / "machine_before.txt"
    if before.exists():
        lines.append(before.read_text(encoding="utf-8").strip().capitalize() + ".")
    lines.append("")
    rps_total = _num(total["Requests/s"]) if total else None
    lines.append(
        f"**{n_req:,} requests in {seconds:.0f} s, {n_fail} failures; "
        f"{rps_total or 0:.0f} requests/s over the run"
        + (f", {steady:.0f} requests/s at full load (median)" if steady else "")
        + f", {users} users.**"
    )
    windows = steady_windows(history, users)
    if windows:
        lines.append("")
        lines.append(
            "Steady state (10 s windows at full load, from 10 s after the ramp on), all "
            "requests: "
            + "; ".join(
                f"p{col[:-1]} median {med:.0f} ms, worst {worst:.0f} ms"
                for col, (med, worst) in windows.items()
            )
            + ". The table below covers the whole run, ramp-up included."
        )
    lines += ["", "Latencies in ms (Locust's percentiles are rounded above 100 ms).", ""]
    lines.append("| endpoint | requests | failures | req/s | p50 | p95 | p99 | p99.9 | max |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in [*sorted(endpoints, key=lambda r: -int(r["Request Count"])), total]:
        if r is None:
            continue
        name = "**all**" if r["Name"] == AGG else f"`{r['Name']}`"
        lines.append(
            f"| {name} | {int(r['Request Count']):,} | {int(r['Failure Count']):,} "
            f"| {float(r['Requests/s']):.1f} | {_ms(r['50%'])} | {_ms(r['95%'])} "
            f"| {_ms(r['99%'])} | {_ms(r['99.9%'])} | {_ms(r['Max Response Time'])} |"
        )
    if failures:
        lines += ["", "## Failures", "", "| endpoint | error | count |", "|---|---|---:|"]
        for f in sorted(failures, key=lambda f: -int(f["Occurrences"]))[:20]:
            err = f["Error"].replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| `{f['Name']}` | {err} | {f['Occurrences']} |")
    lines += service_side(folder)
    lines += resources(folder / "resources.csv")
    cpu = folder / "locust_cpu.txt"
    if cpu.exists():
        try:
            user, system, wall = (
                float(x) for x in cpu.read_text().strip().splitlines()[-1].split(",")
            )
            lines.append(
                f"Locust itself used {100 * (user + system) / max(wall, 1e-9):.0f} % of one core "
                f"on average ({user + system:.0f} s CPU in {wall:.0f} s)."
            )
        except ValueError:
            pass
    if plot(history, folder / "latency.png", title):
        lines += ["", "Latency over time: `latency.png`; Locust's report: `report.html`."]
    rc = 0 if n_req > 0 and n_fail == 0 else 1
    return "\n".join(lines) + "\n", rc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--title", default="")
    p.add_argument("--command", default="")
    args = p.parse_args()
    text, rc = summarize(args.folder, args.title or args.folder.name, args.command)
    (args.folder / "summary.md").write_text(text, encoding="utf-8")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
