"""The entitlement registry: what a source sends and what a proof carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.registry import load_registry
from app.errors import ConfigError

LABELS = 'labels = { nl = "a", fr = "b", de = "c", en = "d" }'


def test_a_parking_card_is_sent_with_its_number_and_carries_its_last_day() -> None:
    card = load_registry().get("parking_card")
    assert card.attributes == ("card_number",)  # the validity is valid_until, sent once
    assert card.claims == ("card_number", "card_valid_until")
    assert load_registry().get("social_tariff").claims == ()


@pytest.mark.parametrize(
    "spec",
    [
        'valid_until_claim = "exp"',  # would shadow the proof's own end
        'attributes = ["nam"]',
        'attributes = ["card_valid_until"]\nvalid_until_claim = "card_valid_until"',
    ],
)
def test_claim_names_used_twice_are_refused(tmp_path: Path, spec: str) -> None:
    path = tmp_path / "types.toml"
    path.write_text(f"[types.x]\n{LABELS}\n{spec}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="used twice"):
        load_registry(str(path))
