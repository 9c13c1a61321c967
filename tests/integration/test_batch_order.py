"""A batch over real HTTP on every store: chunks are applied side by side when they touch
different entitlements, yet every entitlement sees its lines in the order they were sent,
however the body happens to be cut into chunks on the way."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import httpx
import pytest
from conftest import store_url
from served import TYPE, Service, grant_body, running, send_all

from app.tokens import generate_nrn

pytestmark = [pytest.mark.slow]

LINES = 2_000


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param("redis", marks=pytest.mark.cluster),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ],
)
def test_each_entitlement_keeps_its_order_across_chunks(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    rng = random.Random(77)
    nrns: set[str] = set()
    while len(nrns) < LINES + 2:
        nrns.add(generate_nrn(rng))
    renamed, toggled, *others = sorted(nrns)
    lines = [{"op": "upsert", "type": TYPE, **grant_body(n, i)} for i, n in enumerate(others)]
    # one entitlement renamed every 50 lines (its NRN written with separators every other
    # time), another revoked and reinstated in turn: both in nearly every chunk
    dotted = f"{renamed[:2]}.{renamed[2:4]}.{renamed[4:6]}-{renamed[6:9]}.{renamed[9:]}"
    renames = list(range(3, LINES, 50))
    for k, pos in enumerate(renames):
        body = grant_body(dotted if k % 2 else renamed, 0)
        body["holder"]["family_name"] = f"Name{k}"
        lines[pos] = {"op": "upsert", "type": TYPE, **body}
    lines[1] = {"op": "upsert", "type": TYPE, **grant_body(toggled, 0)}
    toggles = list(range(28, LINES, 50))
    for k, pos in enumerate(toggles):
        lines[pos] = {"op": "reinstate" if k % 2 else "revoke", "type": TYPE, "nrn": toggled}

    svc = Service(tmp_path, store_url(request, backend, tmp_path))
    key = svc.add_client("source")
    with running(svc):
        results = send_all(svc, key, [json.dumps(x).encode() for x in lines])
        summary = results.pop()["summary"]
        assert summary == {"lines": LINES, "ok": LINES, "failed": 0, "complete": True}
        assert [r["line"] for r in results] == list(range(1, LINES + 1))
        assert [results[p]["outcome"] for p in renames] == ["created"] + ["updated"] * (
            len(renames) - 1
        )
        assert [results[p]["status"] for p in toggles] == [
            "valid" if k % 2 else "revoked" for k in range(len(toggles))
        ]
        # the last rename is the one that stayed, and the last toggle
        token = svc.citizen_token(renamed)
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            proof = http.post(
                "/v1/me/proofs",
                json={"type": TYPE, "qr": []},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert proof.status_code == 201, proof.text
            claims = json.loads(
                base64.urlsafe_b64decode(proof.json()["token"].split(".")[1] + "==")
            )
            assert claims["nam"] == f"J. NAME{len(renames) - 1}"
            mine = http.get(
                "/v1/me/entitlements",
                headers={"Authorization": f"Bearer {svc.citizen_token(toggled)}"},
            ).json()
        last = "valid" if (len(toggles) - 1) % 2 else "revoked"
        assert [e["status"] for e in mine["entitlements"]] == [last]
