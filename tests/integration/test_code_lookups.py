"""Numeric codes, over HTTP on every store (issue 19, item 3).

* A code answers what its proof's token answers once the proof's signing key is
  withdrawn (`unknown_key`), and stays valid while a rotated key is still published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from app_on_loop import BACKENDS, backend_settings, granted_proof, worker

from app.config import Settings
from app.keyring import retire_key, rotate_key
from tests.integration.api.conftest import Api, FrozenClock


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return backend_settings(request, tmp_path)


def reload_keys(api: Api) -> None:
    """As if the worker's periodic look at the key ring were due now (it looks every 2 s)."""
    api.services.keys._checked = float("-inf")


def verdict(answer: dict[str, Any]) -> tuple[str, str | None]:
    return answer["result"], answer["reason"]


# -- item 3: a withdrawn key takes its proofs' codes with it -----------------------------
async def test_withdrawn_key_stops_the_codes_of_its_proofs(settings: Settings) -> None:
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        old_kid = api.services.keys.signing_key().kid
        keys_dir = api.settings.keys_dir

        # rotated: a new key signs, the old one stays published until its proofs have ended
        rotate_key(keys_dir, max_token_lifetime_s=3600, now=api.clock.now())
        reload_keys(api)
        assert api.services.keys.signing_key().kid != old_kid
        assert verdict(await api.verify(museum, token=proof["token"])) == ("valid", None)
        rotated = await api.verify(museum, code=proof["code"])
        assert verdict(rotated) == ("valid", None)
        assert rotated["holder"] == {"name": "J. PEETERS"}

        # withdrawn (it leaked): the token and the code say the same, and nothing about whom
        retire_key(keys_dir, old_kid, now=api.clock.now())
        reload_keys(api)
        assert verdict(await api.verify(museum, token=proof["token"])) == ("invalid", "unknown_key")
        withdrawn = await api.verify(museum, code=proof["code"])
        assert verdict(withdrawn) == ("invalid", "unknown_key")
        assert withdrawn["holder"] is None and withdrawn["entitlement"] is None

        # a proof signed by the new key is untouched
        fresh = await granted_proof(api)
        assert verdict(await api.verify(museum, code=fresh["code"])) == ("valid", None)
