"""The audit records `verdict(check, status)`; the verifier is answered with
`build_result(check, status)`: they must always agree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.registry import load_registry
from app.domain.verification import verdict
from app.tokens import ProofClaims, TokenCheck, build_result

CLAIMS = ProofClaims(
    jti="j" * 16,
    kid="k",
    type="social_tariff",
    name="J. PEETERS",
    iat=1,
    exp=2,
    list_uri="https://x/v1/status-lists/1",
    idx=7,
    attributes={},
)


@pytest.mark.parametrize("status", [0, 1, 2, 3])
@pytest.mark.parametrize("failure", [None, "expired"])
def test_verdict_agrees_with_build_result(status: int, failure: str | None) -> None:
    check = TokenCheck(claims=CLAIMS, failure=failure)
    result = build_result(
        check,
        status=status,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        registry=load_registry(),
        revocation_checked="online",
    )
    assert verdict(check, status) == (result.result, result.reason)
