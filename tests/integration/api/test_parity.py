"""One core, three doors: the online API, the offline verifier and the CLI agree."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.cli import main as cli_main
from app.domain.registry import load_registry
from app.tokens import KeySet, parse_jwks, parse_status_list, verify_offline
from tests.integration.api.conftest import Api, FrozenClock, auth, make_settings


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


@pytest.mark.parametrize("case", ["valid", "revoked", "suspended", "tampered", "not_permitted"])
async def test_online_offline_and_cli_agree(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # real time, so the CLI (which reads the system clock) sees the same moment
    settings = make_settings(tmp_path, status_list_ttl_s=4)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app) as http:
        api = Api(http=http, app=app, settings=settings, clock=clock)
        source = await api.client("source", ["social_tariff"])
        verifier = await api.client(
            "verifier", ["living_wage"] if case == "not_permitted" else ["social_tariff"]
        )
        nrn = api.nrn()
        await api.grant(source, "social_tariff", nrn)
        token = (await api.proof(nrn, qr=[]))["token"]
        if case in ("revoked", "suspended"):
            action = "revoke" if case == "revoked" else "suspend"
            await http.post(
                f"/v1/entitlements/social_tariff/{action}", headers=auth(source), json={"nrn": nrn}
            )
            clock.advance(2)  # past the publisher's refresh interval (ttl/4)
        if case == "tampered":
            token = _tamper(token)
        online = await api.verify(verifier, token=token)
        jwks_bytes = (await http.get("/.well-known/jwks.json")).content
        list_text = (await http.get("/v1/status-lists/1")).text

    allowed = ["living_wage"] if case == "not_permitted" else ["social_tariff"]
    keys = parse_jwks(jwks_bytes)
    sl = parse_status_list(list_text, keys)
    offline = verify_offline(
        token,
        jwks=KeySet(keys=keys, fetched_at=clock.now(), max_age_s=3600),
        status_lists={sl.uri: sl},
        now=clock.now(),
        registry=load_registry(),
        allowed_types=allowed,
    )
    (tmp_path / "jwks.json").write_bytes(jwks_bytes)
    (tmp_path / "list.jwt").write_text(list_text)
    monkeypatch.setenv("STATUSPASS_KEYS_DIR", str(tmp_path / "cli-keys"))
    code = cli_main(
        [
            "verify",
            token,
            "--jwks",
            str(tmp_path / "jwks.json"),
            "--status-list",
            str(tmp_path / "list.jwt"),
            "--types",
            ",".join(allowed),
            "--json",
        ]
    )
    cli = json.loads(capsys.readouterr().out)

    expected = {
        "valid": ("valid", None),
        "revoked": ("invalid", "revoked"),
        "suspended": ("invalid", "suspended"),
        "tampered": ("invalid", "bad_signature"),
        "not_permitted": ("invalid", "not_permitted"),
    }[case]
    assert (online["result"], online["reason"]) == expected
    assert (offline.result, offline.reason) == expected
    assert (cli["result"], cli["reason"]) == expected
    assert code == (0 if case == "valid" else 1)
    assert online["revocation_checked"] == (
        "online" if case in ("valid", "revoked", "suspended") else "none"
    )
    if case in ("valid", "revoked", "suspended"):
        assert offline.revocation_checked == cli["revocation_checked"] == "status_list"
        assert online["holder"] == cli["holder"] == {"name": "J. PEETERS"}
    else:
        assert online["holder"] is None and cli["holder"] is None
