"""Run verify_offline over every case of tests/vectors/tokens.json (valid, invalid and
undetermined cases apart).

The browser's verifier runs the same file (web/test/vectors.test.mjs): both must give
the same result and reason for every case.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.domain.registry import load_registry
from app.tokens import (
    JoseError,
    KeySet,
    Registry,
    StatusList,
    parse_jwks,
    parse_status_list,
    public_types,
    registry_from_metadata,
    verify_offline,
)

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "tokens.json").read_text("utf-8"))
REGISTRY = load_registry()
#: what a partner's verifier knows: the types as the issuer metadata publishes them
PUBLISHED = registry_from_metadata(VECTORS["entitlement_types"])


#: valid, invalid and undetermined cases are kept apart in the file
CASES = [(group, c) for group in ("valid", "invalid", "undetermined") for c in VECTORS[group]]


@pytest.mark.parametrize("registry", [REGISTRY, PUBLISHED], ids=["toml", "metadata"])
@pytest.mark.parametrize(("group", "case"), CASES, ids=[c["name"] for _, c in CASES])
def test_vector(group: str, case: dict[str, Any], registry: Registry) -> None:
    keys = parse_jwks(VECTORS["jwks"])
    lists: list[StatusList] = []
    for token in case["status_lists"]:
        # a verifier keeps no list it refuses: as if it had none
        with contextlib.suppress(JoseError):
            lists.append(parse_status_list(token, keys))
    result = verify_offline(
        case["token"],
        jwks=KeySet(
            keys=keys,
            fetched_at=datetime.fromtimestamp(case["jwks_fetched_at"], UTC),
            max_age_s=case["jwks_max_age_s"],
        ),
        status_lists={sl.uri: sl for sl in lists},
        now=datetime.fromtimestamp(case["now"], UTC),
        registry=registry,
        allowed_types=case["allowed_types"],
    )
    assert {"result": result.result, "reason": result.reason} == case["expected"]
    assert result.result == group
    if result.result != "valid" and result.reason not in ("revoked", "suspended", "expired"):
        assert result.holder is None and result.entitlement is None


def test_vectors_hold_no_private_key() -> None:
    for jwk in VECTORS["jwks"]["keys"]:
        assert "d" not in jwk


def test_every_reason_is_covered() -> None:
    reasons = {c["expected"]["reason"] for _, c in CASES}
    assert reasons >= {
        None,
        "expired",
        "revoked",
        "suspended",
        "bad_signature",
        "unknown_key",
        "malformed",
        "not_permitted",
        "stale_status_list",
        "stale_keys",
        "check_clock",
    }


def test_registry_is_the_published_one() -> None:
    # the browser knows the registry only from issuer metadata: the vectors carry it
    assert VECTORS["entitlement_types"] == public_types(REGISTRY)
    # and reading it back loses nothing a check needs
    assert public_types(PUBLISHED) == public_types(REGISTRY)
