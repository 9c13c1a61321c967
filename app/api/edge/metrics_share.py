"""One `/metrics` answer for all the workers of a service.

`statuspass serve --workers N` runs N processes behind one port, and the kernel hands
each scrape to any of them. Each worker counts in its own plain dicts
(`app.api.edge.httpmetrics` and `app.api.edge.metrics` say why), so scrape after scrape showed one
worker's counts, then the other's: a counter read 76,352, then 73,898, then 76,352, and
Prometheus takes every drop for a restart of the counter (`rate()` and `increase()`
turn to nonsense).

So the workers share their counts through files in a folder that `serve` makes for one
run of the service: each worker replaces its own `<pid>.json` whole (a reader never sees
half of one) every `interval_s` seconds and whenever it answers a scrape, and the worker
that answers sums every file there. Every figure of an answer comes from a file, the
answering worker's own included, and a worker's file only grows: the sums never go down
from one scrape to the next, whichever worker answers. A worker that ended (and was
replaced) leaves its last counts behind, so totals carry over; what it counted after its
last write is lost, never counted twice.

prometheus_client's per-process series (`process_*`, `python_gc_*`, `python_info`)
would describe whichever worker answered, and its CPU counter would jump the same way:
with a shared folder they are left out, as prometheus_client's own multiprocess mode
does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
from prometheus_client.core import REGISTRY, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from app.api.edge.httpmetrics import HTTP_STATS, HttpStats
from app.api.edge.metrics import ISSUED, LOOKUPS_LIMITED, VERIFICATIONS, LabelledCount

__all__ = ["SharedMetrics", "install"]

log = logging.getLogger("statuspass.metrics")


class _Counts(msgspec.Struct, frozen=True):
    """One worker's counts as written to its file."""

    #: (method, route, status, count)
    requests: list[tuple[str, str, int, int]]
    #: (route, per-bucket counts with +Inf last, sum of seconds)
    latency: list[tuple[str, list[int], float]]
    #: counter name -> (label values, count)
    labelled: dict[str, list[tuple[list[str], int]]]


_decode = msgspec.json.Decoder(_Counts).decode
_encode = msgspec.json.Encoder().encode


class SharedMetrics(Collector):
    """The HTTP and domain counters of every worker writing to `folder`, summed."""

    def __init__(
        self,
        folder: Path,
        http: HttpStats = HTTP_STATS,
        counters: Sequence[LabelledCount] = (VERIFICATIONS, ISSUED, LOOKUPS_LIMITED),
        *,
        interval_s: float = 5.0,
        worker: str | None = None,
    ) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self.http = http
        self.counters = counters
        self._own = folder / f"{worker or os.getpid()}.json"

    def write(self) -> None:
        """Replace this worker's file with its counts now."""
        counts = _Counts(
            requests=[(m, p, s, n) for (m, p, s), n in list(self.http.requests.items())],
            latency=[(p, list(c), t[0]) for p, (c, t) in list(self.http.latency.items())],
            labelled={
                c.name: [(list(values), n) for values, n in list(c.counts.items())]
                for c in self.counters
            },
        )
        # made again if something removed it (a cleaner of old temporary files)
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self._own.with_suffix(".part")
        part.write_bytes(_encode(counts))
        os.replace(part, self._own)

    async def keep_writing(self) -> None:
        """Write every `interval_s` until cancelled, then once more. A write that fails
        (a full disk) is logged and tried again next time: counting goes on."""
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    self.write()
                except OSError as exc:
                    log.warning("metrics: cannot write this worker's counts: %s", exc)
        finally:
            with contextlib.suppress(OSError):
                self.write()

    def collect(self) -> Iterator[Metric]:
        self.write()
        http = HttpStats()
        counters = {c.name: LabelledCount(c.name, c.documentation, c.labels) for c in self.counters}
        for path in sorted(self.folder.glob("*.json")):
            try:
                counts = _decode(path.read_bytes())
            except (OSError, msgspec.DecodeError):
                continue  # gone meanwhile (the service is stopping), or not one of ours
            for method, route, status, n in counts.requests:
                key = (method, route, status)
                http.requests[key] = http.requests.get(key, 0) + n
            for route, buckets, seconds in counts.latency:
                hist = http.latency.setdefault(route, ([0] * len(buckets), [0.0]))
                if len(hist[0]) != len(buckets):
                    continue  # written with other buckets (not by this version)
                for i, n in enumerate(buckets):
                    hist[0][i] += n
                hist[1][0] += seconds
            for name, rows in counts.labelled.items():
                counter = counters.get(name)
                if counter is None:
                    continue
                for values, n in rows:
                    labels = tuple(values)
                    counter.counts[labels] = counter.counts.get(labels, 0) + n
        yield from http.collect()
        for counter in counters.values():
            yield from counter.collect()


def install(shared: SharedMetrics, registry: CollectorRegistry = REGISTRY) -> None:
    """Answer scrapes of `registry` with `shared` instead of this worker's own counts
    and per-process series (each left out if it is not registered)."""
    from prometheus_client import gc_collector, platform_collector, process_collector

    for collector in (
        shared.http,
        *shared.counters,
        process_collector.PROCESS_COLLECTOR,
        platform_collector.PLATFORM_COLLECTOR,
        gc_collector.GC_COLLECTOR,
    ):
        with contextlib.suppress(KeyError):
            registry.unregister(collector)
    registry.register(shared)
