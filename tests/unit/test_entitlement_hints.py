"""A Redis worker's memory of the entitlements it issued on (`EntitlementHints`).

What an operator notices: the memory is bounded (the citizens renewing most recently are
kept, the others drop out), and a right the store reports gone is forgotten at once.
"""

from __future__ import annotations

from app.domain.records import StatusRef
from app.storage._lean import encode_held_entitlement
from app.storage.redis.ctx import EntitlementHints
from tests.integration.factories import make_entitlement

REF = StatusRef("1", 7)


def test_the_most_recently_renewed_stay_within_the_bound() -> None:
    hints = EntitlementHints(size=3)
    ents = {s: make_entitlement(REF, subject=s) for s in ("a", "b", "c", "d")}
    for s in ("a", "b", "c"):
        hints.put("parking", s, ents[s], encode_held_entitlement(ents[s]))
    assert hints.get("parking", "a") == ents["a"]  # a renews: now the most recent
    hints.put("parking", "d", ents["d"], encode_held_entitlement(ents["d"]))
    assert len(hints) == 3
    assert hints.get("parking", "b") is None  # the least recently used went
    assert [hints.get("parking", s) for s in ("a", "c", "d")] == [ents["a"], ents["c"], ents["d"]]
    assert hints.get("other_type", "a") is None


def test_a_right_reported_gone_is_forgotten() -> None:
    hints = EntitlementHints()
    ent = make_entitlement(REF, subject="a")
    hints.put("parking", "a", ent, encode_held_entitlement(ent))
    hints.put("parking", "a", None, b"")
    assert hints.get("parking", "a") is None and len(hints) == 0
    hints.put("parking", "never-seen", None, b"")  # nothing to forget: no error


def test_a_hint_is_compared_as_the_bytes_it_was_read_from() -> None:
    """The bytes a refused save handed over are what the next save compares, even where
    encoding the entitlement again would give others (a record of an older release)."""
    hints = EntitlementHints()
    ent = make_entitlement(REF, subject="a")
    hints.put("parking", "a", ent, b"1 as-stored")
    hinted = hints.get("parking", "a")
    assert hinted is ent and hints.stored_form(hinted) == b"1 as-stored"
    # an equal entitlement read elsewhere (not the hint itself) is encoded
    twin = make_entitlement(REF, subject="a")
    assert hints.stored_form(twin) == encode_held_entitlement(twin)
