"""The HTTP series Prometheus scrapes: counts and latency buckets as recorded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from app.api.edge.httpmetrics import HttpStats


def _scrape(stats: HttpStats) -> str:
    registry = CollectorRegistry()
    registry.register(stats)
    return generate_latest(registry).decode()


def test_requests_are_counted_by_method_route_and_status() -> None:
    stats = HttpStats()
    for status in (200, 200, 404):
        stats.record("POST", "/v1/verify", status, 0.003)
    stats.record("GET", "/.well-known/jwks.json", 304, 0.0004)
    text = _scrape(stats)
    assert (
        'statuspass_requests_total{method="POST",path="/v1/verify",status_code="200"} 2.0' in text
    )
    assert (
        'statuspass_requests_total{method="POST",path="/v1/verify",status_code="404"} 1.0' in text
    )
    assert 'path="/.well-known/jwks.json",status_code="304"} 1.0' in text


def test_latency_buckets_are_cumulative_and_include_their_bound() -> None:
    stats = HttpStats()
    for seconds in (0.0005, 0.001, 0.004, 3.0):
        stats.record("GET", "/x", 200, seconds)
    text = _scrape(stats)
    bucket = 'statuspass_request_duration_seconds_bucket{le="%s",path="/x"} %s'
    assert bucket % ("0.001", "2.0") in text  # 0.0005 and exactly 0.001
    assert bucket % ("0.0025", "2.0") in text
    assert bucket % ("0.005", "3.0") in text
    assert bucket % ("2.5", "3.0") in text
    assert bucket % ("+Inf", "4.0") in text
    assert 'statuspass_request_duration_seconds_count{path="/x"} 4.0' in text
    assert 'statuspass_request_duration_seconds_sum{path="/x"} 3.0055' in text
