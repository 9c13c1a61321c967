"""Several workers answer /metrics with the sums of all their counts, never going down."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from app.api.edge.httpmetrics import HttpStats
from app.api.edge.metrics import LabelledCount
from app.api.edge.metrics_share import SharedMetrics, install


class Worker:
    """One worker's own counters and its view of the shared folder."""

    def __init__(self, folder: Path, name: str) -> None:
        self.http = HttpStats()
        self.checks = LabelledCount("statuspass_verifications", "checks", ["result"])
        self.shared = SharedMetrics(folder, self.http, (self.checks,), worker=name)
        self.registry = CollectorRegistry()
        install(self.shared, self.registry)

    def serve(self, n: int) -> None:
        for _ in range(n):
            self.http.record("POST", "/v1/verify", 200, 0.004)
            self.checks.inc("valid")

    def scrape(self) -> str:
        return generate_latest(self.registry).decode()


def _value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert found, f"{series} not in:\n{text}"
    return float(found.group(1))


REQUESTS = 'statuspass_requests_total{method="POST",path="/v1/verify",status_code="200"}'
CHECKS = 'statuspass_verifications_total{result="valid"}'
BUCKET = 'statuspass_request_duration_seconds_bucket{le="0.005",path="/v1/verify"}'


def test_a_scrape_answers_the_sum_of_every_worker(tmp_path: Path) -> None:
    a, b = Worker(tmp_path, "a"), Worker(tmp_path, "b")
    a.serve(30)
    b.serve(12)
    b.shared.write()  # b's periodic write
    text = a.scrape()
    assert _value(text, REQUESTS) == 42
    assert _value(text, CHECKS) == 42
    assert _value(text, BUCKET) == 42
    assert _value(text, 'statuspass_request_duration_seconds_count{path="/v1/verify"}') == 42


def test_totals_never_go_down_whichever_worker_answers(tmp_path: Path) -> None:
    a, b = Worker(tmp_path, "a"), Worker(tmp_path, "b")
    seen = []
    for step in range(6):
        a.serve(7)
        b.serve(3)
        # b answers on even steps, a on odd ones; neither writes in between
        seen.append(_value((b if step % 2 == 0 else a).scrape(), REQUESTS))
    assert seen == sorted(seen)
    # the last answer (a's) has all of a's own 6 x 7, and b's 5 x 3 as of b's last write
    assert seen[-1] == 6 * 7 + 5 * 3


def test_a_worker_that_ended_keeps_its_counts_in_the_totals(tmp_path: Path) -> None:
    a, gone = Worker(tmp_path, "a"), Worker(tmp_path, "gone")
    gone.serve(5)
    gone.shared.write()
    del gone  # its process ended; its last file stays
    replacement = Worker(tmp_path, "replacement")
    replacement.serve(2)
    assert _value(a.scrape(), CHECKS) == 0 + 5  # a counted nothing itself
    assert _value(replacement.scrape(), CHECKS) == 7


def test_files_that_are_not_a_workers_counts_are_passed_over(tmp_path: Path) -> None:
    a = Worker(tmp_path, "a")
    a.serve(4)
    (tmp_path / "stray.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"requests": "x"}')
    assert _value(a.scrape(), REQUESTS) == 4


def test_per_process_series_are_left_out_when_shared(tmp_path: Path) -> None:
    # they describe whichever worker answered, and process_cpu_seconds_total would jump
    from prometheus_client import gc_collector, platform_collector, process_collector

    registry = CollectorRegistry()
    for default in (
        process_collector.PROCESS_COLLECTOR,
        platform_collector.PLATFORM_COLLECTOR,
        gc_collector.GC_COLLECTOR,
    ):
        registry.register(default)
    before = generate_latest(registry).decode()
    assert "process_cpu_seconds_total" in before and "python_info" in before
    worker = Worker(tmp_path, "a")
    install(worker.shared, registry)
    after = generate_latest(registry).decode()
    assert "process_cpu_seconds_total" not in after
    assert "python_info" not in after and "python_gc_" not in after
    assert "statuspass_requests_total" in after


def test_a_removed_folder_is_made_again_and_the_counts_kept(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    a = Worker(folder, "a")
    a.serve(3)
    assert _value(a.scrape(), REQUESTS) == 3
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()  # e.g. a cleaner of old temporary files
    a.serve(2)
    assert _value(a.scrape(), REQUESTS) == 5
