"""GET /v1/me/verifications covers the window kept in the store and says from when."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import msgspec

from app.api.checkpointing import archive_now
from app.api.state import Services
from tests.integration.api.conftest import Api
from tests.integration.api.test_verify import _granted_proof


def _with_retention(api: Api, folder: Path, days: int) -> Services:
    settings = msgspec.structs.replace(
        api.settings, audit_retention_days=days, audit_archive_dir=str(folder)
    )
    return dataclasses.replace(api.services, settings=settings)


async def test_checks_moved_to_the_archive_leave_the_list_which_says_since_when(
    api: Api, source: str, museum: str, tmp_path: Path
) -> None:
    nrn, proof = await _granted_proof(api, source)
    await api.verify(museum, token=proof["token"])
    mine = (await api.http.get("/v1/me/verifications", headers=api.citizen(nrn))).json()
    assert mine["since"] is None and len(mine["verifications"]) == 1  # nothing archived yet
    api.clock.advance(3 * 86_400)
    await api.verify(museum, token=(await api.proof(nrn, qr=[]))["token"])
    # the service's retention: two days in the store, the rest in the archive
    api.app.state.services = _with_retention(api, tmp_path / "archive", days=2)
    await archive_now(api.services)
    mine = (await api.http.get("/v1/me/verifications", headers=api.citizen(nrn))).json()
    assert len(mine["verifications"]) == 1  # the check of three days ago is archived
    since = api.clock.now() - timedelta(days=2)
    assert mine["since"] == since.isoformat().replace("+00:00", "Z")
    assert list((tmp_path / "archive").glob("segment-*.audit.gz"))


async def test_a_retention_in_seconds_archives_within_minutes(
    api: Api, source: str, museum: str, tmp_path: Path
) -> None:
    """`audit_retention_s` (STATUSPASS_AUDIT_RETENTION_S), for soaks and tests: a window
    of two minutes archives a check made three minutes ago."""
    nrn, proof = await _granted_proof(api, source)
    await api.verify(museum, token=proof["token"])
    api.clock.advance(180)
    settings = msgspec.structs.replace(
        api.settings, audit_retention_s=120, audit_archive_dir=str(tmp_path / "archive")
    )
    api.app.state.services = dataclasses.replace(api.services, settings=settings)
    await archive_now(api.services)
    mine = (await api.http.get("/v1/me/verifications", headers=api.citizen(nrn))).json()
    assert mine["verifications"] == []
    since = api.clock.now() - timedelta(seconds=120)
    assert mine["since"] == since.isoformat().replace("+00:00", "Z")
