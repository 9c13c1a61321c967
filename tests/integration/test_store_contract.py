"""The one contract suite of `app.domain.ports.Store`, run on every backend of `store`.

Every operation of the Protocol is exercised here (`test_every_store_operation_is_in_the_
suite` keeps it so); what only one backend has (Redis lanes, SQLite group commit, round
trips) is tested beside its backend.

Written against the Protocol only: nothing here may know how a backend stores things.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

import msgspec
import pytest
from factories import (
    T0,
    at,
    make_card,
    make_client,
    make_entitlement,
    make_event,
    make_proof,
)

from app.audit.checkpoints import note_hash
from app.audit.format import decode_event_strict, record_hash
from app.audit.service import verify_audit
from app.domain.events import GENESIS_HASH, decode_event, encode_event
from app.domain.ports import CODE_HOLD_S, STATUS_LIST_SIZE, Store
from app.domain.records import (
    INVALID,
    SUSPENDED,
    VALID,
    AuditEvent,
    AuditRecord,
    AuditTrim,
    CheckOutcome,
    CheckRequest,
    EntitlementWrite,
    Seen,
    StatusRef,
)
from app.errors import EntitlementMoved, VersionConflict


async def audit_records(store: Store) -> list[AuditRecord]:
    return [record async for record in store.iter_audit()]


def decode_status_list(packed: bytes, idx: int) -> int:
    """Independent reading of the IETF packing: entry i at bits 2*(i%4) of byte i//4."""
    return (packed[idx // 4] >> (2 * (idx % 4))) & 0b11


async def test_ping(store: Store) -> None:
    await store.ping()


# -- clients ----------------------------------------------------------------------------
async def test_clients_add_get_list(store: Store) -> None:
    source, verifier = make_client("cli-1"), make_client("cli-2", role="verifier")
    await store.add_client(source, make_event("client_add"))
    await store.add_client(verifier, make_event("client_add"))

    assert await store.get_client("cli-1") == source
    assert await store.get_client("nope") is None
    assert await store.get_client_by_key_hash("hash-cli-2") == verifier
    assert await store.get_client_by_key_hash("hash-none") is None
    assert sorted(c.id for c in await store.list_clients()) == ["cli-1", "cli-2"]
    assert [r.event.action for r in await audit_records(store)] == ["client_add"] * 2


async def test_revoke_client_once(store: Store) -> None:
    await store.add_client(make_client("cli-1"), make_event("client_add"))

    assert await store.revoke_client("cli-1", at(60), make_event("client_revoke"))
    revoked = await store.get_client("cli-1")
    assert revoked is not None
    assert revoked.revoked_at == at(60)
    # a second revocation changes nothing, not even the date, and is not audited
    assert not await store.revoke_client("cli-1", at(120), make_event("client_revoke"))
    assert not await store.revoke_client("missing", at(120), make_event("client_revoke"))
    again = await store.get_client_by_key_hash("hash-cli-1")
    assert again is not None
    assert again.revoked_at == at(60)
    actions = [r.event.action for r in await audit_records(store)]
    assert actions == ["client_add", "client_revoke"]


# -- entitlements -----------------------------------------------------------------------
async def test_entitlement_create_update_and_conflicts(store: Store) -> None:
    ref = await store.allocate_status_ref("subj-a")
    ent = make_entitlement(ref)
    await store.save_entitlement(
        EntitlementWrite(
            ent=ent, expected_version=None, status_updates=[], cards=[], audit=make_event("grant")
        )
    )
    assert await store.get_entitlement("parking", "subj-a") == ent
    assert await store.get_entitlement("parking", "subj-b") is None

    with pytest.raises(VersionConflict):  # creation of something that exists
        await store.save_entitlement(
            EntitlementWrite(
                ent=make_entitlement(ref, status=INVALID),
                expected_version=None,
                status_updates=[],
                cards=[],
                audit=make_event("grant"),
            )
        )
    revoked = make_entitlement(ref, status=INVALID, version=2, when=at(10))
    await store.save_entitlement(
        EntitlementWrite(
            ent=revoked, expected_version=1, status_updates=[], cards=[], audit=make_event("revoke")
        )
    )
    with pytest.raises(VersionConflict):  # stale update: version 1 was read before
        await store.save_entitlement(
            EntitlementWrite(
                ent=make_entitlement(ref, status=SUSPENDED, version=2),
                expected_version=1,
                status_updates=[],
                cards=[],
                audit=make_event("suspend"),
            )
        )
    with pytest.raises(VersionConflict):  # update of something that does not exist
        await store.save_entitlement(
            EntitlementWrite(
                ent=make_entitlement(ref, subject="subj-z", version=2),
                expected_version=1,
                status_updates=[],
                cards=[],
                audit=make_event("update"),
            )
        )

    assert await store.get_entitlement("parking", "subj-a") == revoked
    assert await store.get_status(ref) == INVALID
    # failed writes left no trace in the audit log
    assert [r.event.action for r in await audit_records(store)] == ["grant", "revoke"]


async def test_failed_save_writes_nothing(store: Store) -> None:
    ref, card_ref = (
        await store.allocate_status_ref("subj-a"),
        await store.allocate_status_ref("subj-a"),
    )
    await store.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref),
            expected_version=None,
            status_updates=[],
            cards=[],
            audit=make_event("grant"),
        )
    )
    with pytest.raises(VersionConflict):
        await store.save_entitlement(
            EntitlementWrite(
                ent=make_entitlement(ref, status=INVALID, version=5),
                expected_version=4,
                status_updates=[(card_ref, SUSPENDED)],
                cards=[make_card("C-1", card_ref)],
                audit=make_event("revoke"),
            )
        )
    assert await store.get_status(ref) == VALID
    assert await store.get_status(card_ref) == VALID
    assert await store.get_cards(["C-1"]) == []
    assert len(await audit_records(store)) == 1


async def test_list_entitlements_by_subject(store: Store) -> None:
    for type_id, subject in [("parking", "subj-a"), ("disability", "subj-a"), ("parking", "b")]:
        ref = await store.allocate_status_ref(subject)
        await store.save_entitlement(
            EntitlementWrite(
                ent=make_entitlement(ref, type_id=type_id, subject=subject),
                expected_version=None,
                status_updates=[],
                cards=[],
                audit=make_event("grant"),
            )
        )
    mine = await store.list_entitlements("subj-a")
    assert sorted(e.type for e in mine) == ["disability", "parking"]
    assert all(e.subject == "subj-a" for e in mine)
    assert await store.list_entitlements("nobody") == []


# -- status lists -----------------------------------------------------------------------
async def test_allocated_refs_are_unique_and_random(store: Store) -> None:
    refs = [await store.allocate_status_ref("subj-a") for _ in range(300)]
    assert len({(r.list_id, r.idx) for r in refs}) == 300
    # one list (which one is the backend's business: a sharded store numbers per shard)
    assert len({r.list_id for r in refs}) == 1
    assert all(0 <= r.idx < STATUS_LIST_SIZE for r in refs)
    # sequential allocation would reveal the order of grants; 300 random indices out of
    # 2**20 all below 10_000 has probability < 1e-400
    assert max(r.idx for r in refs) > 10_000
    assert refs != sorted(refs, key=lambda r: r.idx)
    assert await store.status_list_ids() == [refs[0].list_id]


async def test_concurrent_allocations_are_unique(store: Store) -> None:
    refs = await asyncio.gather(*(store.allocate_status_ref("subj-a") for _ in range(100)))
    assert len({(r.list_id, r.idx) for r in refs}) == 100


async def test_statuses_set_by_save_and_packed(store: Store) -> None:
    ent_ref = await store.allocate_status_ref("subj-a")
    card_refs = [await store.allocate_status_ref("subj-a") for _ in range(3)]
    cards = [make_card(f"C-{i}", ref) for i, ref in enumerate(card_refs)]
    await store.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ent_ref, status=SUSPENDED),
            expected_version=None,
            status_updates=[(card_refs[0], INVALID), (card_refs[1], SUSPENDED)],
            cards=cards,
            audit=make_event("grant"),
        )
    )
    expected = {ent_ref: SUSPENDED, card_refs[0]: INVALID, card_refs[1]: SUSPENDED}
    expected[card_refs[2]] = VALID
    for ref, status in expected.items():
        assert await store.get_status(ref) == status

    packed = await store.status_list_bytes(ent_ref.list_id)
    assert packed is not None
    assert len(packed) == STATUS_LIST_SIZE // 4
    for ref, status in expected.items():
        assert decode_status_list(packed, ref.idx) == status
    # nothing else is set: the non-zero entries are exactly the ones we expect
    non_zero = {
        i * 4 + k
        for i, byte in enumerate(packed)
        if byte
        for k in range(4)
        if (byte >> (2 * k)) & 3
    }
    assert non_zero == {ref.idx for ref, status in expected.items() if status}


async def test_status_list_bytes_unknown_list(store: Store) -> None:
    assert await store.status_list_ids() == []
    assert await store.status_list_bytes("1") is None
    ref = await store.allocate_status_ref("subj-a")
    assert await store.status_list_bytes(ref.list_id) == bytes(STATUS_LIST_SIZE // 4)
    assert await store.status_list_bytes(str(int(ref.list_id) + 1)) is None
    assert await store.status_list_bytes("x") is None


@pytest.mark.parametrize(
    "list_id",
    ["9223372036854775808", "18446744073709551616", "9" * 5000, "-1", "0", "01", "1.0", "\u0661"],
)
async def test_status_list_ids_out_of_range_name_no_list(store: Store, list_id: str) -> None:
    # 2**63 and past used to overflow SQLite's INTEGER inside the query (a 500 at the edge)
    await store.allocate_status_ref("subj-a")
    assert await store.status_list_bytes(list_id) is None
    assert await store.status_list_bytes("9223372036854775807") is None  # the largest id


async def test_ent_status_wins_and_is_reapplied(store: Store) -> None:
    ref = await store.allocate_status_ref("subj-a")
    await store.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref, status=VALID),
            expected_version=None,
            status_updates=[(ref, INVALID)],
            cards=[],
            audit=make_event("grant"),
        )
    )
    # `ent.status_ref` is always set to `ent.status`
    assert await store.get_status(ref) == VALID


# -- cards ------------------------------------------------------------------------------
async def test_cards_upserted_and_fetched(store: Store) -> None:
    ref_a, card_ref = [await store.allocate_status_ref("subj-a") for _ in range(2)]
    ref_b = await store.allocate_status_ref("subj-b")
    await store.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref_a),
            expected_version=None,
            status_updates=[],
            cards=[make_card("111", card_ref)],
            audit=make_event("grant"),
        )
    )
    # the domain checked ownership: the store just moves the number to subj-b
    moved = make_card("111", card_ref, subject="subj-b")
    await store.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref_b, subject="subj-b"),
            expected_version=None,
            status_updates=[],
            cards=[moved, make_card("222", ref_b, subject="subj-b")],
            audit=make_event("grant"),
        )
    )
    found = await store.get_cards(["222", "999", "111"])
    assert [c.number for c in found] == ["222", "111"]
    assert found[1] == moved
    assert await store.get_cards([]) == []
    # one number, as every card check asks (a path of its own on Redis)
    assert await store.get_cards(["111"]) == [moved]
    assert await store.get_cards(["111", "111"]) == [moved]
    assert await store.get_cards(["999"]) == []


# -- proofs and codes -------------------------------------------------------------------
async def test_codes_held_until_a_day_after_expiry(store: Store) -> None:
    ref = await store.allocate_status_ref("subj-a")
    first = make_proof("jti-1", ref, lifetime_s=300)
    assert await store.save_proof(first, "123456", make_event("issue", jti="jti-1"))
    assert await store.get_proof_by_code("123456", at(299)) == first
    assert await store.get_proof_by_code("654321", at(1)) is None

    clash = make_proof("jti-2", ref, issued_at=at(100))
    assert not await store.save_proof(clash, "123456", make_event("issue", jti="jti-2"))
    assert await store.get_proof_by_code("123456", at(101)) == first
    assert [r.event.jti for r in await audit_records(store)] == ["jti-1"]

    # expired: still bound to its proof for CODE_HOLD_S (a check answers "expired"),
    # and no other proof can draw it meanwhile
    assert await store.get_proof_by_code("123456", at(300)) == first
    released = 300 + CODE_HOLD_S
    assert await store.get_proof_by_code("123456", at(released - 1)) == first
    late = make_proof("jti-3", ref, issued_at=at(released - 1))
    assert not await store.save_proof(late, "123456", make_event("issue", jti="jti-3"))

    # then released: unknown, and free for a new proof
    assert await store.get_proof_by_code("123456", at(released)) is None
    reuse = make_proof("jti-4", ref, issued_at=at(released))
    assert await store.save_proof(reuse, "123456", make_event("issue", jti="jti-4"))
    assert await store.get_proof_by_code("123456", at(released + 1)) == reuse


async def test_proof_without_code(store: Store) -> None:
    ref = await store.allocate_status_ref("subj-a")
    assert await store.save_proof(make_proof("jti-1", ref), None, make_event("issue"))
    assert len(await audit_records(store)) == 1


@pytest.mark.parametrize("code", [None, "123456"])
async def test_a_proof_is_saved_only_on_the_entitlement_it_was_made_from(
    store: Store, code: str | None
) -> None:
    """A right revoked between the read and the save yields no proof: the save compares
    the stored version with its basis in the same atomic step and hands back the stored
    entitlement, so the issuance can answer from it without reading again."""
    ref = await store.allocate_status_ref("subj-a")
    granted = make_entitlement(ref)
    await store.save_entitlement(
        EntitlementWrite(
            ent=granted,
            expected_version=None,
            status_updates=[],
            cards=[],
            audit=make_event("grant"),
        )
    )
    first = make_proof("jti-1", ref)
    assert await store.save_proof(first, code, make_event("issue", jti="jti-1"), granted)
    # the store may remember the entitlement it saved on, and only that one
    assert store.entitlement_hint("parking", "subj-a") in (None, granted)
    assert store.entitlement_hint("parking", "subj-b") is None

    revoked = make_entitlement(ref, status=INVALID, version=2, when=at(10))
    await store.save_entitlement(
        EntitlementWrite(
            ent=revoked, expected_version=1, status_updates=[], cards=[], audit=make_event("revoke")
        )
    )
    late = make_proof("jti-2", ref, issued_at=at(20))
    with pytest.raises(EntitlementMoved) as moved:
        await store.save_proof(late, code and "654321", make_event("issue", jti="jti-2"), granted)
    assert moved.value.current == revoked
    assert store.entitlement_hint("parking", "subj-a") in (None, revoked)
    # nothing of the refused save was written: no code, no audit record
    if code is not None:
        assert await store.get_proof_by_code("654321", at(21)) is None
    assert [r.event.jti for r in await audit_records(store)] == [None, "jti-1", None]

    # no entitlement at all (another holder): refused the same way, with None
    ref_b = await store.allocate_status_ref("subj-b")
    other = make_proof("jti-3", ref_b, subject="subj-b", issued_at=at(30))
    with pytest.raises(EntitlementMoved) as gone:
        await store.save_proof(other, None, make_event("issue", jti="jti-3"), granted)
    assert gone.value.current is None
    # the stored version as basis: saved
    again = make_proof("jti-4", ref, issued_at=at(40))
    assert await store.save_proof(
        again, code and "777777", make_event("issue", jti="jti-4"), revoked
    )
    assert [r.event.jti for r in await audit_records(store)][-1] == "jti-4"


# -- online checks ----------------------------------------------------------------------
VERIFY_EVENTS = {
    VALID: make_event("verify", result="valid", org="Org"),
    INVALID: make_event("verify", result="revoked", org="Org"),
    -1: make_event("verify", result="not_valid", org="Org"),
}


_subjects = itertools.count()


async def _granted(store: Store, status: int) -> StatusRef:
    # the ref is allocated for the subject that holds it (a sharded store needs that)
    subject = f"subj-{next(_subjects)}"
    ref = await store.allocate_status_ref(subject)
    await store.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref, subject=subject, status=status),
            expected_version=None,
            status_updates=[],
            cards=[],
            audit=make_event("grant"),
        )
    )
    return ref


async def test_check_chooses_audit_by_status(store: Store) -> None:
    refs = [await _granted(store, status) for status in (VALID, INVALID, SUSPENDED)]
    taken = {ref.idx for ref in refs if ref.list_id == refs[0].list_id}
    never_allocated = StatusRef(refs[0].list_id, min(set(range(4)) - taken))
    outcomes = [
        await store.check_and_record(
            CheckRequest(
                ref=ref,
                jti=None,
                subject=None,
                org="Org",
                now=T0,
                seen_window_s=600,
                audit_by_status=VERIFY_EVENTS,
            )
        )
        for ref in [*refs, never_allocated, StatusRef("77", 5)]
    ]
    assert outcomes == [
        CheckOutcome(VALID, None),
        CheckOutcome(INVALID, None),
        CheckOutcome(SUSPENDED, None),
        # an index we never handed out is not trustworthy: invalid
        CheckOutcome(INVALID, None),
        CheckOutcome(INVALID, None),
    ]
    results = [r.event.result for r in await audit_records(store) if r.event.action == "verify"]
    # a sharded store keeps one chain per shard: the order across chains is not defined
    assert sorted(results) == sorted(["valid", "revoked", "not_valid", "revoked", "revoked"])


async def test_check_fills_subject_from_proof(store: Store) -> None:
    ref = await _granted(store, VALID)
    await store.save_proof(make_proof("jti-1", ref, subject="subj-p"), None, make_event("issue"))

    async def check(jti: str | None, subject: str | None, events: Mapping[int, AuditEvent]) -> None:
        await store.check_and_record(
            CheckRequest(
                ref=ref,
                jti=jti,
                subject=subject,
                org="Org",
                now=T0,
                seen_window_s=600,
                audit_by_status=events,
            )
        )

    await check("jti-1", None, VERIFY_EVENTS)
    await check("jti-1", "subj-arg", VERIFY_EVENTS)  # the proof registry comes first
    await check("unknown", "subj-arg", VERIFY_EVENTS)  # unknown jti: the caller's subject
    await check("unknown", None, VERIFY_EVENTS)
    await check("jti-1", None, {-1: make_event("verify", subject="given")})  # kept
    subjects = [r.event.subject for r in await audit_records(store) if r.event.action == "verify"]
    assert subjects == ["subj-p", "subj-p", "subj-arg", None, "given"]


async def test_check_counts_seen_within_window(store: Store) -> None:
    ref = await _granted(store, VALID)

    async def check(jti: str | None, org: str, seconds: float) -> Seen | None:
        outcome = await store.check_and_record(
            CheckRequest(
                ref=ref,
                jti=jti,
                subject=None,
                org=org,
                now=at(seconds),
                seen_window_s=600,
                audit_by_status=VERIFY_EVENTS,
            )
        )
        return outcome.seen

    assert await check("jti-1", "A", 0) == Seen(0, 0)
    assert await check("jti-1", "B", 10) == Seen(1, 1)
    assert await check("jti-1", "A", 20) == Seen(2, 2)
    assert await check("jti-2", "A", 30) == Seen(0, 0)  # per jti
    # at 700 s the checks at 0 and 10 fell out of the window, the one at 20 (org A) too
    assert await check("jti-1", "C", 700) == Seen(3, 0)
    assert await check("jti-1", "A", 710) == Seen(4, 1)
    assert await check(None, "A", 720) is None


# -- rate limits ------------------------------------------------------------------------
async def test_hit_rate_counts_each_hit_once(store: Store) -> None:
    counts = await asyncio.gather(*(store.hit_rate("k", 60, at(5)) for _ in range(100)))
    assert sorted(counts) == list(range(1, 101))
    assert await store.rate_count("k", 60, at(5)) == 100
    assert await store.rate_count("other", 60, at(5)) == 0
    # fixed windows: T0 is on a minute boundary, so at(59) is the same window, at(60) not
    assert await store.hit_rate("k", 60, at(59)) == 101
    assert await store.rate_count("k", 60, at(60)) == 0
    assert await store.hit_rate("k", 60, at(60)) == 1


async def test_undo_hit_takes_back_hits_of_its_window_only(store: Store) -> None:
    counts = await asyncio.gather(*(store.hit_rate("k", 60, at(5)) for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))
    await asyncio.gather(*(store.undo_hit("k", 60, at(6)) for _ in range(20)))
    assert await store.rate_count("k", 60, at(7)) == 30
    assert await store.hit_rate("k", 60, at(8)) == 31
    # another window, or a counter never hit: nothing to take back, never below zero
    await store.undo_hit("k", 60, at(60))
    await store.undo_hit("never", 60, at(5))
    assert await store.rate_count("k", 60, at(60)) == 0
    assert await store.rate_count("never", 60, at(5)) == 0
    assert await store.hit_rate("never", 60, at(5)) == 1
    assert await store.rate_count("k", 60, at(9)) == 31


# -- audit ------------------------------------------------------------------------------
async def test_audit_chain_links(store: Store) -> None:
    for i in range(5):
        await store.append_audit(make_event("key_rotate", when=at(i)))
    ref = await _granted(store, VALID)
    await store.check_and_record(
        CheckRequest(
            ref=ref,
            jti="j",
            subject="s",
            org="O",
            now=T0,
            seen_window_s=60,
            audit_by_status=VERIFY_EVENTS,
        )
    )
    records = await audit_records(store)
    assert len(records) == 7
    # one chain or several (a sharded store has one per shard): each starts at seq 1 and
    # links record to record
    chains: dict[str, list[AuditRecord]] = {}
    for record in records:
        chains.setdefault(record.chain, []).append(record)
    for chain in chains.values():
        assert [r.seq for r in chain] == list(range(1, len(chain) + 1))
        prev = GENESIS_HASH
        for record in chain:
            assert record.prev == prev
            assert record.hash == record_hash(
                record.chain, record.seq, prev, encode_event(record.event)
            )
            prev = record.hash
    rotations = [r for r in records if r.event.action == "key_rotate"]
    assert rotations[0].event == make_event("key_rotate", when=at(0))
    assert [r.seq for r in rotations] == [1, 2, 3, 4, 5]


async def test_verifications_for_newest_first(store: Store) -> None:
    events = [
        make_event("verify", when=at(1), subject="s1", org="A"),
        make_event("card_check", when=at(2), subject="s1", org="B"),
        make_event("verify", when=at(3), subject="s2", org="A"),
        make_event("issue", when=at(4), subject="s1"),
        make_event("verify", when=at(5), subject="s1", org="C"),
    ]
    for event in events:
        await store.append_audit(event)
    assert await store.verifications_for("s1", 10) == [events[4], events[1], events[0]]
    assert await store.verifications_for("s1", 2) == [events[4], events[1]]
    assert await store.verifications_for("nobody", 10) == []


# -- audit evidence: stored bytes, heads, checkpoints -----------------------------------
async def test_stored_audit_is_the_hashed_bytes(store: Store) -> None:
    await store.append_audit(make_event("verify", subject="ab" * 32, org="A"))
    await store.append_audit(make_event("client_add"))
    stored = [r async for r in store.iter_audit_stored()]
    assert len(stored) == 2
    for r in stored:
        assert r.hash == record_hash(r.chain, r.seq, r.prev, r.data)
        for column, value in r.columns:  # copies kept beside the bytes agree with them
            assert value == getattr(decode_event_strict(r.data), column)
    # each chain's head is its last record
    last = {r.chain: (r.seq, r.hash) for r in stored}
    assert await store.audit_heads() == last


async def test_every_stored_record_is_read_across_pages(store: Store) -> None:
    # more records than one page of any store: each read once, in order; a reader that
    # stops early (the archive at its cut) leaves the store as usable as before
    for i in range(2_500):
        await store.append_audit(make_event("verify", when=at(i), subject="ab" * 32, org="A"))
    stored = [(r.chain, r.seq) async for r in store.iter_audit_stored()]
    assert len(stored) == len(set(stored)) == 2_500
    assert stored == sorted(stored)
    async for r in store.iter_audit_stored():
        if r.seq == 1_500:
            break
    assert len([r async for r in store.iter_audit_stored()]) == 2_500
    await store.ping()


async def test_checkpoints_are_kept_in_order_and_only_on_the_expected_count(store: Store) -> None:
    assert await store.latest_checkpoint() == (0, None)
    assert await store.add_checkpoint(b"first", 0)
    assert not await store.add_checkpoint(b"late", 0)  # another signer kept one first
    assert await store.add_checkpoint(b"second", 1)
    assert await store.checkpoints() == [b"first", b"second"]
    assert await store.latest_checkpoint() == (2, b"second")
    assert await store.dropped_checkpoints() == (0, None)


async def test_checkpoints_in_the_archive_are_dropped_and_still_counted(store: Store) -> None:
    for n, note in enumerate([b"one", b"two", b"three", b"four"]):
        assert await store.add_checkpoint(note, n)
    assert not await store.trim_checkpoints(2, b"one")  # checkpoint 2 is not that note
    assert not await store.trim_checkpoints(4, b"four")  # the newest always stays
    assert await store.checkpoints() == [b"one", b"two", b"three", b"four"]
    assert await store.trim_checkpoints(2, b"two")
    assert await store.trim_checkpoints(2, b"two")  # done before: done
    assert not await store.trim_checkpoints(2, b"one")
    assert await store.checkpoints() == [b"three", b"four"]
    assert await store.dropped_checkpoints() == (2, note_hash(b"two"))
    # the count a signer names is of every checkpoint ever kept
    assert await store.latest_checkpoint() == (4, b"four")
    assert not await store.add_checkpoint(b"late", 2)
    assert await store.add_checkpoint(b"five", 4)
    assert await store.trim_checkpoints(4, b"four")
    assert await store.checkpoints() == [b"five"]
    assert await store.dropped_checkpoints() == (4, note_hash(b"four"))
    assert await store.latest_checkpoint() == (5, b"five")


# -- bulk forms (batch ingest) ------------------------------------------------------
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


async def test_bulk_forms_conflicts_status_and_audit(store: Store) -> None:
    """The bulk forms as batch ingest uses them: distinct refs, creations that conflict
    skipped and the others applied, records and status bits read back, and the audit
    chain whole (this ran on Redis only before; every store keeps this contract)."""
    subjects = [f"{i:08x}" * 8 for i in range(40)]
    refs = await store.allocate_status_refs(subjects)
    assert len({(r.list_id, r.idx) for r in refs}) == 40
    writes = [
        EntitlementWrite(
            ent=make_entitlement(ref, subject=s, status=SUSPENDED if i % 3 else VALID),
            expected_version=None,
            audit=make_event("grant", subject=s),
        )
        for i, (s, ref) in enumerate(zip(subjects, refs, strict=True))
    ]
    assert await store.save_entitlements(writes[:10]) == [True] * 10
    # the first 10 exist now: their creations conflict, the other 30 go through
    assert await store.save_entitlements(writes) == [False] * 10 + [True] * 30
    got = await store.get_entitlements([("parking", s) for s in subjects] + [("x", "y")])
    assert got == [w.ent for w in writes] + [None]
    for w in writes:
        assert await store.get_status(w.ent.status_ref) == w.ent.status
    report = await verify_audit(store)
    assert report.ok and report.records == 40


# -- archive and evidence ---------------------------------------------------------------
async def test_trim_archived_drops_the_head_of_a_chain_only_if_it_is_unchanged(
    store: Store,
) -> None:
    for _ in range(3):  # one subject, one writer: one chain on every backend
        await store.append_audit(make_event("grant", subject="ef" * 32))
    records = await audit_records(store)
    chain = records[-1].chain
    mine = [r for r in records if r.chain == chain]
    assert [r.seq for r in mine] == [1, 2, 3]
    second = mine[1]
    assert await store.audit_archived() == {}
    # the digest must still be record 2's: an edited log is never trimmed
    assert not await store.trim_archived(
        AuditTrim(chain=chain, upto=2, digest="0" * 64, before_us=1_000)
    )
    assert await store.trim_archived(
        AuditTrim(chain=chain, upto=2, digest=second.hash, before_us=1_000)
    )
    assert await store.audit_archived() == {chain: (2, second.hash, 1_000)}
    left = [r for r in await audit_records(store) if r.chain == chain]
    assert [r.seq for r in left] == [r.seq for r in mine[2:]]
    assert await store.trim_archived(
        AuditTrim(chain=chain, upto=2, digest=second.hash, before_us=1_000)
    )  # done before: True
    assert await store.audit_archived() == {chain: (2, second.hash, 1_000)}


async def test_verification_pointers_list_the_checks_of_a_subject(store: Store) -> None:
    subject = "ab" * 32
    await store.append_audit(make_event("grant", subject=subject))
    await store.append_audit(make_event("verify", subject=subject, org="Museum"))
    stored = [r async for r in store.iter_audit_stored()]
    checks = [r for r in stored if decode_event(r.data).action == "verify"]
    assert len(checks) == 1
    pointers = await store.verification_pointers(checks[0].group, [subject, "cd" * 32])
    if store.separate_verification_index:
        assert pointers == [[(checks[0].chain, checks[0].seq)], []]
    else:  # the records are the index: nothing kept apart to compare
        assert pointers == [[], []]


async def test_close_is_final_and_may_be_repeated(store: Store) -> None:
    await store.close()
    await store.close()  # the fixture closes it once more: never an error


# -- the suite covers the whole port ------------------------------------------------------
def test_every_store_operation_is_in_the_suite() -> None:
    """Each member of `Store` (every port it is made of) is used by a test of this file,
    so a new store operation cannot ship with a contract tested on one backend only."""
    import inspect
    from pathlib import Path

    members = {
        name
        for port in Store.__mro__
        if port.__module__ == "app.domain.ports"
        for name in vars(port)
        if not name.startswith("_")
    } | set(Store.__annotations__)
    source = Path(__file__).read_text("utf-8")
    this_test = inspect.getsource(test_every_store_operation_is_in_the_suite)
    source = source.replace(this_test, "")
    missing = sorted(m for m in members if f"store.{m}" not in source)
    assert members and not missing, f"store operations no contract test uses: {missing}"
