"""Contract of the bulk store operations used by batch ingest, on every backend."""

from __future__ import annotations

import msgspec

from app.domain.ports import Store
from app.domain.records import INVALID, VALID, EntitlementWrite
from tests.integration.factories import make_entitlement, make_event

SUBJECTS = [f"{i:02x}" * 32 for i in range(1, 41)]  # like real pseudonyms (hex HMACs)


async def test_bulk_allocate_save_and_read_back(store: Store) -> None:
    refs = await store.allocate_status_refs(SUBJECTS)
    assert len(refs) == len(SUBJECTS)
    assert len({(r.list_id, r.idx) for r in refs}) == len(SUBJECTS)
    writes = [
        EntitlementWrite(
            ent=make_entitlement(ref, subject=s, status=INVALID if i % 2 else VALID),
            expected_version=None,
            audit=make_event("grant", subject=s),
        )
        for i, (s, ref) in enumerate(zip(SUBJECTS, refs, strict=True))
    ]
    assert await store.save_entitlements(writes) == [True] * len(writes)
    got = await store.get_entitlements([("parking", s) for s in SUBJECTS] + [("parking", "ff")])
    assert got[:-1] == [w.ent for w in writes] and got[-1] is None
    for i, ref in enumerate(refs):
        assert await store.get_status(ref) == (INVALID if i % 2 else VALID)
    actions = [r.event.action async for r in store.iter_audit()]
    assert actions.count("grant") == len(SUBJECTS)


async def test_bulk_save_skips_only_the_conflicting_writes(store: Store) -> None:
    a, b, c = SUBJECTS[:3]
    ref_a, ref_b, ref_c = await store.allocate_status_refs([a, b, c])
    first = [
        EntitlementWrite(
            ent=make_entitlement(r, subject=s),
            expected_version=None,
            audit=make_event("grant", subject=s),
        )
        for s, r in ((a, ref_a), (b, ref_b))
    ]
    assert await store.save_entitlements(first) == [True, True]
    second = [
        # stale: a is at version 1, this claims it is new
        EntitlementWrite(
            ent=make_entitlement(ref_a, subject=a, version=2),
            expected_version=None,
            audit=make_event("update", subject=a),
        ),
        EntitlementWrite(
            ent=make_entitlement(ref_b, subject=b, version=2, status=INVALID),
            expected_version=1,
            audit=make_event("revoke", subject=b),
        ),
        EntitlementWrite(
            ent=make_entitlement(ref_c, subject=c),
            expected_version=None,
            audit=make_event("grant", subject=c),
        ),
    ]
    assert await store.save_entitlements(second) == [False, True, True]
    got_a, got_b, got_c = await store.get_entitlements(
        [("parking", a), ("parking", b), ("parking", c)]
    )
    assert got_a is not None and got_a.version == 1
    assert got_b is not None and got_b.status == INVALID and got_b.version == 2
    assert got_c == second[2].ent
    assert await store.get_status(ref_b) == INVALID
    actions = [r.event.action async for r in store.iter_audit()]
    assert sorted(actions) == sorted(["grant", "grant", "revoke", "grant"])  # no "update"
    assert msgspec.json.encode(got_c)  # round-trips as a record
