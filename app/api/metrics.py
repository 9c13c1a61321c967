"""Domain metrics for Prometheus, next to the HTTP ones the Litestar plugin records.

Labels are closed sets (kind, result, reason, type from the registry): never a client,
a jti or anything that grows with traffic.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["ISSUED", "VERIFICATIONS"]

VERIFICATIONS = Counter(
    "statuspass_verifications",
    "Online checks by kind (token, code, card), result and reason",
    ["kind", "result", "reason"],
)
ISSUED = Counter("statuspass_proofs_issued", "Proofs issued, by entitlement type", ["type"])
