"""The audit records `verdict(check, status)` before the status is read, once per
possible status; the verifier is answered with `build_result(check, status)`: they must
always agree. One rule in the core (`app.tokens.proof.verdict`), used by both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.registry import load_registry
from app.tokens import ProofClaims, TokenCheck, build_result, verdict

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


@pytest.mark.parametrize("status", [None, -1, 0, 1, 2, 3])
@pytest.mark.parametrize("failure", [None, "expired"])
def test_verdict_agrees_with_build_result(status: int | None, failure: str | None) -> None:
    check = TokenCheck(claims=CLAIMS, failure=failure)
    result = build_result(
        check,
        status=status,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        registry=load_registry(),
        revocation_checked="online",
    )
    assert verdict(check, status) == (result.result, result.reason)


@pytest.mark.parametrize(
    ("failure", "status", "expected"),
    [
        (None, None, ("valid", None)),  # offline with no list needed: signature and time
        (None, 0, ("valid", None)),
        (None, 1, ("invalid", "revoked")),
        (None, 2, ("invalid", "suspended")),
        (None, 3, ("invalid", "revoked")),  # unused by us: fail closed
        (None, -1, ("invalid", "revoked")),  # a status the store does not know
        ("expired", 0, ("invalid", "expired")),
        ("expired", 2, ("invalid", "expired")),  # the check's own failure comes first
    ],
)
def test_the_rule(failure: str | None, status: int | None, expected: tuple[str, str]) -> None:
    assert verdict(TokenCheck(claims=CLAIMS, failure=failure), status) == expected


def test_no_claims_and_no_failure_is_never_valid() -> None:
    assert verdict(TokenCheck(claims=None, failure=None), 0) == ("invalid", "malformed")
