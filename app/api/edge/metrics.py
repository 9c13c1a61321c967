"""Domain metrics for Prometheus, next to the HTTP ones (`app.api.edge.httpmetrics`).

Labels are closed sets (kind, result, reason, type from the registry): never a client,
a jti or anything that grows with traffic. As for the HTTP series, counts are plain
dicts updated on the event loop's thread (no lock; prometheus_client's labelled
Counter costs about 1 µs per increment) and become series when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import REGISTRY, CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ISSUED", "LOOKUPS_LIMITED", "VERIFICATIONS", "LabelledCount"]


class LabelledCount(Collector):
    """A counter by label values, exposed as `<name>_total` at scrape time."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.counts: dict[tuple[str, ...], int] = {}

    def inc(self, *values: str) -> None:
        self.counts[values] = self.counts.get(values, 0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, count in list(self.counts.items()):
            family.add_metric(list(values), count)
        yield family


VERIFICATIONS = LabelledCount(
    "statuspass_verifications",
    "Online checks by kind (token, code, card), result and reason",
    ["kind", "result", "reason"],
)
ISSUED = LabelledCount("statuspass_proofs_issued", "Proofs issued, by entitlement type", ["type"])
#: every refusal counted (the audit has one record per burst): a verifier walking codes
#: or card numbers shows here as it happens
LOOKUPS_LIMITED = LabelledCount(
    "statuspass_lookups_rate_limited",
    "Code and card lookups refused by the per-verifier guess limit, by kind (code, card)",
    ["kind"],
)
REGISTRY.register(VERIFICATIONS)
REGISTRY.register(ISSUED)
REGISTRY.register(LOOKUPS_LIMITED)
