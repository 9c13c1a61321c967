"""Redis-specific behaviour: durability checks, shard count, round trips, several
processes, audit chains per process, and `store copy` between SQLite and Redis.

Real redis-server processes only (see redis_servers.py); nothing is mocked. Round trips
are counted by wrapping redis-py's `send_packed_command` and the multiplexed script
connection's `call` (one call = one request written to the socket and awaited = one
round trip, a pipeline included).
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from factories import T0, make_card, make_client, make_entitlement, make_event, make_proof
from redis_servers import RedisClusterProcs, RedisServer

from app.audit.service import verify_audit
from app.cli.store_copy import copy_store
from app.domain.events import GENESIS_HASH
from app.domain.records import (
    INVALID,
    SUSPENDED,
    VALID,
    CardRecord,
    CheckOutcome,
    CheckRequest,
    EntitlementWrite,
    StatusRef,
)
from app.errors import ConfigError, EntitlementMoved
from app.storage import open_store
from app.storage._lean import encode_held_entitlement
from app.storage.redis.audit import LANES
from app.storage.redis.ctx import LATE_CHECK_S
from app.storage.redis.durability import check_store_durability, durability_report
from app.storage.redis.keys import Layout
from app.storage.redis.scripts import VERIF_CAP
from app.storage.redis.store import RedisStore

pytestmark = pytest.mark.cluster
T = TypeVar("T")

VERIFY = {
    VALID: make_event("verify", result="valid", org="Org"),
    INVALID: make_event("verify", result="revoked", org="Org"),
    -1: make_event("verify", result="not_valid", org="Org"),
}


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
async def rstore(redis_url: str) -> AsyncIterator[RedisStore]:
    store = await RedisStore.open(redis_url)
    try:
        yield store
    finally:
        await store.close()


# -- durability ---------------------------------------------------------------------------
async def test_durability_report_appendonly_no_vs_yes(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = await RedisStore.open(redis_server.url)
    try:
        report = await durability_report(good)
        assert report.problems == [] and report.unknown == []
        (settings,) = report.nodes.values()
        assert settings["appendonly"] == "yes" and settings["appendfsync"] == "always"
        assert await check_store_durability(good, production=True) is not None
    finally:
        await good.close()

    unsafe = RedisServer.start(
        tmp_path, appendonly=False, extra=("--maxmemory-policy", "allkeys-lru")
    )
    try:
        store = await RedisStore.open(unsafe.url)
        try:
            report = await durability_report(store)
            text = " ".join(report.problems)
            assert "appendonly is off: acknowledged writes are lost on restart" in text
            assert "maxmemory-policy allkeys-lru can evict authoritative data" in text
            with pytest.raises(ConfigError, match="appendonly is off"):
                await check_store_durability(store, production=True)
            with caplog.at_level(logging.WARNING, logger="statuspass.store"):
                await check_store_durability(store, production=False)
            assert "would refuse to start in production" in caplog.text
        finally:
            await store.close()
    finally:
        unsafe.stop()


async def test_durability_on_cluster_checks_every_master(redis_cluster: RedisClusterProcs) -> None:
    store = await RedisStore.open(redis_cluster.url)
    try:
        report = await durability_report(store)
        assert len(report.nodes) == 3
        assert report.problems == []
        assert len(report.notes) == 3  # the test cluster runs appendfsync everysec
    finally:
        await store.close()


async def test_sqlite_store_needs_no_durability_check(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        assert await check_store_durability(store, production=True) is None
    finally:
        await store.close()


# -- shards -------------------------------------------------------------------------------
async def test_shard_count_is_fixed_at_first_use(redis_url: str) -> None:
    first = await RedisStore.open(redis_url + "?shards=8")
    await first.close()
    with pytest.raises(ConfigError, match="has 8 shards"):
        await RedisStore.open(redis_url + "?shards=16")
    again = await RedisStore.open(redis_url)  # no count given: the stored one
    try:
        assert again.shards == 8
        ref = await again.allocate_status_ref("ab" * 32)
        assert (int(ref.list_id) - 1) % 8 == int("abababab", 16) % 8
    finally:
        await again.close()


# -- round trips --------------------------------------------------------------------------
async def _sequence(
    store: RedisStore, other: RedisStore, round_trips: list[int], n: int
) -> dict[str, int]:
    """Each operation once; round trips per operation. `other` is a second worker
    (its own cache and chain heads)."""
    # same first 8 hex digits: same shard on every pass, so the chain heads are loaded
    subject = f"00000000{n:056x}"
    measured: dict[str, int] = {}

    async def count(name: str, coro: Awaitable[T]) -> T:
        before = round_trips[0]
        result = await coro
        measured[name] = round_trips[0] - before
        return result

    ref = await count("allocate_status_ref", store.allocate_status_ref(subject))
    ent = make_entitlement(ref, subject=subject)
    audit = make_event("grant", subject=subject)
    await count(
        "save_entitlement",
        store.save_entitlement(
            EntitlementWrite(
                ent=ent, expected_version=None, status_updates=[], cards=[], audit=audit
            )
        ),
    )
    await count("get_entitlement", store.get_entitlement("parking", subject))
    jti, code = f"jti-{n}", f"55{n}"
    proof = make_proof(jti, ref, subject=subject)
    await count("save_proof with code", store.save_proof(proof, code, make_event("issue")))
    now = proof.issued_at

    def check(s: RedisStore, jti: str | None, subj: str | None) -> Awaitable[CheckOutcome]:
        return s.check_and_record(
            CheckRequest(
                ref=ref,
                jti=jti,
                subject=subj,
                org="Org",
                now=now,
                seen_window_s=600,
                audit_by_status=VERIFY,
            )
        )

    await count("verify token, proof issued by this worker", check(store, jti, None))
    await count("card check (subject given)", check(store, None, subject))
    await count("get_proof_by_code", store.get_proof_by_code(code, now))
    await count("hit_rate", store.hit_rate("k", 60, now))
    await count("rate_count", store.rate_count("k", 60, now))
    await count("get_status", store.get_status(ref))
    await count("verify token, other worker, first time", check(other, jti, None))
    await count("verify token, other worker, again", check(other, jti, None))
    revoked = make_entitlement(ref, subject=subject, status=INVALID, version=2)
    await store.save_entitlement(
        EntitlementWrite(
            ent=revoked, expected_version=1, status_updates=[], cards=[], audit=make_event("revoke")
        )
    )
    # the audit record is built for the status expected (valid); the script reads
    # another one, writes nothing and says which: the record is built again for it
    outcome = await count("verify revoked token, first time", check(store, jti, None))
    assert outcome.status == INVALID
    await count("verify revoked token, again (status remembered)", check(store, jti, None))
    await count("append_audit", store.append_audit(make_event("key_rotate")))
    card = CardRecord(
        number=f"{n:010d}", subject=subject, status_ref=ref, valid_until=proof.expires_at
    )
    carded = make_entitlement(ref, subject=subject, status=INVALID, version=3)
    await store.save_entitlement(
        EntitlementWrite(
            ent=carded,
            expected_version=2,
            status_updates=[],
            cards=[card],
            audit=make_event("update"),
        )
    )
    assert await count("get_cards, one card", store.get_cards([card.number])) == [card]
    return measured


async def test_round_trips_per_operation(
    rstore: RedisStore, redis_url: str, round_trips: list[int]
) -> None:
    other = await RedisStore.open(redis_url)
    try:
        await _sequence(rstore, other, round_trips, 1)  # loads scripts and chain heads
        measured = await _sequence(rstore, other, round_trips, 2)
    finally:
        await other.close()
    print("\nround trips:", measured)
    assert measured == {
        "allocate_status_ref": 1,
        "save_entitlement": 1,
        "get_entitlement": 1,
        "save_proof with code": 1,  # the code claimed in the same script (single node)
        "verify token, proof issued by this worker": 1,
        "card check (subject given)": 1,
        "get_proof_by_code": 1,  # the proof read by the code's script (single node)
        "hit_rate": 1,
        "rate_count": 1,
        "get_status": 1,
        "verify token, other worker, first time": 2,
        "verify token, other worker, again": 1,
        "verify revoked token, first time": 2,
        "verify revoked token, again (status remembered)": 1,
        "append_audit": 1,
        "get_cards, one card": 1,  # the directory and the card in one script (single node)
    }


async def test_a_hint_is_refused_when_the_stored_right_differs_under_the_same_version(
    rstore: RedisStore,
) -> None:
    """After a failover that lost acknowledged writes, or a restore, a version number may
    come back with other contents: a version read as valid by this worker, lost, then
    written again as revoked under the same number. The save compares the whole stored
    value, not the number."""
    subject = "ab" * 32
    ref = await rstore.allocate_status_ref(subject)
    granted = make_entitlement(ref, subject=subject)
    await rstore.save_entitlement(
        EntitlementWrite(
            ent=granted,
            expected_version=None,
            status_updates=[],
            cards=[],
            audit=make_event("grant"),
        )
    )
    assert await rstore.save_proof(
        make_proof("jti-1", ref, subject=subject), None, make_event("issue"), granted
    )
    hint = rstore.entitlement_hint("parking", subject)
    assert hint == granted

    revoked = make_entitlement(ref, subject=subject, status=INVALID)  # version 1 again
    _label, key, field = (await rstore.context()).layout.ent_place(subject, "parking")
    await rstore.client.hset(key, field, encode_held_entitlement(revoked))

    with pytest.raises(EntitlementMoved) as moved:
        await rstore.save_proof(
            make_proof("jti-2", ref, subject=subject), None, make_event("issue"), hint
        )
    assert moved.value.current == revoked
    assert rstore.entitlement_hint("parking", subject) == revoked


async def test_a_worker_forgets_a_proof_once_it_has_ended_and_late_checks_name_the_holder(
    rstore: RedisStore, redis_url: str, round_trips: list[int]
) -> None:
    """Both workers know the proof's holder while it lives (one round trip a check);
    past its end and the late-check margin they have let it go (memory follows the live
    proofs), and a check then asks the registry: two round trips, the holder still named."""
    subject = "00000000" + "cd" * 28
    ref = await rstore.allocate_status_ref(subject)
    await rstore.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref, subject=subject),
            expected_version=None,
            status_updates=[],
            cards=[],
            audit=make_event("grant", subject=subject),
        )
    )
    proof = make_proof("jti-late", ref, subject=subject, lifetime_s=300)
    await rstore.save_proof(proof, None, make_event("issue", subject=subject))
    other = await RedisStore.open(redis_url)

    async def trips(store: RedisStore, at: datetime) -> int:
        before = round_trips[0]
        await store.check_and_record(
            CheckRequest(
                ref=ref,
                jti=proof.jti,
                subject=None,
                org="Org",
                now=at,
                seen_window_s=600,
                audit_by_status=VERIFY,
            )
        )
        return round_trips[0] - before

    try:
        first = proof.issued_at + timedelta(seconds=1)
        await trips(other, first)  # learns the holder from the registry
        while_live = proof.expires_at - timedelta(seconds=1)
        assert [await trips(rstore, while_live), await trips(other, while_live)] == [1, 1]
        late = proof.expires_at + timedelta(seconds=LATE_CHECK_S + 1)
        assert [await trips(rstore, late), await trips(other, late)] == [2, 2]
        events = await rstore.verifications_for(subject, 10)
        assert len(events) == 5 and {e.subject for e in events} == {subject}
    finally:
        await other.close()


async def test_revoked_proof_checked_by_another_worker_names_holder_and_status(
    rstore: RedisStore, redis_url: str, round_trips: list[int]
) -> None:
    """The other worker knows neither the holder nor the status: the script's first
    answer (which writes nothing) gives both, and the one record appended is right."""
    subject = "ab" * 32
    ref = await rstore.allocate_status_ref(subject)
    await rstore.save_entitlement(
        EntitlementWrite(
            ent=make_entitlement(ref, subject=subject, status=INVALID),
            expected_version=None,
            status_updates=[],
            cards=[],
            audit=make_event("grant", subject=subject),
        )
    )
    proof = make_proof("jti-r", ref, subject=subject)
    await rstore.save_proof(proof, None, make_event("issue", subject=subject))
    other = await RedisStore.open(redis_url)

    def check(ref: StatusRef, jti: str | None) -> Awaitable[CheckOutcome]:
        return other.check_and_record(
            CheckRequest(
                ref=ref,
                jti=jti,
                subject=None,
                org="Org",
                now=proof.issued_at,
                seen_window_s=600,
                audit_by_status=VERIFY,
            )
        )

    try:
        # what a worker loads once: the shard layout, the check script, a chain head
        await other.append_audit(make_event("key_rotate", subject=subject))
        await check(StatusRef("77", 5), None)  # not one of our lists: invalid
        before = round_trips[0]
        outcome = await check(ref, "jti-r")
        assert round_trips[0] - before == 2  # holder and status, then the write
        assert outcome.status == INVALID
        checks = [
            (r.event.result, r.event.subject)
            async for r in other.iter_audit()
            if r.event.action == "verify"
        ]
        # two chains (the global one, the subject's shard): their order is not defined
        assert sorted(checks, key=repr) == sorted(
            [("revoked", None), ("revoked", subject)], key=repr
        )
        assert (await verify_audit(other)).ok
    finally:
        await other.close()


# -- several processes --------------------------------------------------------------------
def _burst(url: str, hits: int, limit: int, queue: multiprocessing.Queue[int]) -> None:
    async def go() -> int:
        store = await open_store(url)
        try:
            now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
            counts = [await store.hit_rate("burst", 60, now) for _ in range(hits)]
            return sum(1 for c in counts if c <= limit)
        finally:
            await store.close()

    queue.put(asyncio.run(go()))


def _appender(url: str, n: int) -> None:
    async def go() -> None:
        store = await open_store(url)
        try:
            for i in range(n):
                await store.append_audit(make_event("key_rotate", actor=f"op-{i}"))
                await store.append_audit(make_event("verify", subject="ab" * 32, org="O"))
        finally:
            await store.close()

    asyncio.run(go())


def _run_processes(target: object, args_list: list[tuple[object, ...]]) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_list]  # type: ignore[arg-type]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_rate_limit_burst_from_four_processes(backend: str, request: pytest.FixtureRequest) -> None:
    from conftest import store_url

    url = store_url(request, backend, Path("."))
    queue: multiprocessing.Queue[int] = multiprocessing.get_context("spawn").Queue()
    _run_processes(_burst, [(url, 50, 60, queue) for _ in range(4)])
    passed = sum(queue.get(timeout=5) for _ in range(4))
    assert passed == 60  # 200 hits at a limit of 60: exactly 60 got through


def test_audit_chain_per_process_verifies(redis_url: str) -> None:
    _run_processes(_appender, [(redis_url, 30) for _ in range(3)])

    async def check() -> None:
        store = await open_store(redis_url)
        try:
            report = await verify_audit(store)
            assert report.ok, report.problem
            assert report.records == 3 * 60
            assert len(report.chains) == 6  # 3 processes x (global + one subject shard)
        finally:
            await store.close()

    asyncio.run(check())


async def test_concurrent_writes_to_one_shard_are_in_flight_together_and_verify(
    rstore: RedisStore,
) -> None:
    """Audited writes of one worker to the same shard do not queue behind each other's
    round trips: each takes a chain of its own (a lane) up to LANES, so they all reach
    Redis together; beyond LANES they share; every chain still verifies."""
    ctx = await rstore.context()
    scripts = ctx.chains._scripts
    in_flight = most = 0
    real_run = scripts.run

    async def counting_run(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await real_run(*args, **kwargs)
        finally:
            in_flight -= 1

    scripts.run = counting_run  # type: ignore[method-assign]
    try:
        await asyncio.gather(*(rstore.append_audit(make_event("key_rotate")) for _ in range(32)))
        assert most == 32  # all 32 sent before any answer came back
        writes = LANES + 36
        await asyncio.gather(
            *(rstore.append_audit(make_event("key_rotate")) for _ in range(writes))
        )
        assert most == LANES  # no more chains than LANES: the rest waited for a lane
    finally:
        scripts.run = real_run  # type: ignore[method-assign]
    report = await verify_audit(rstore)
    assert report.ok, report.problem
    assert report.records == 32 + writes
    assert len(report.chains) == LANES
    # one at a time, writes keep to one lane: chains do not multiply
    for _ in range(5):
        await rstore.append_audit(make_event("key_rotate"))
    again = await verify_audit(rstore)
    assert again.ok and again.records == 32 + writes + 5
    assert again.chains.keys() == report.chains.keys()


async def test_verification_index_keeps_the_newest_up_to_its_cap(rstore: RedisStore) -> None:
    """GET /v1/me/verifications reads a per-subject index that is trimmed to VERIF_CAP
    entries, the newest, while the audit chains keep every record."""
    subject = "ab" * 32
    extra = 5
    for i in range(VERIF_CAP + extra):
        event = make_event(
            "verify", subject=subject, jti=f"jti-{i}", org="Org", result="valid",
            when=T0 + timedelta(seconds=i),
        )  # fmt: skip
        await rstore.append_audit(event)
    kept = await rstore.verifications_for(subject, VERIF_CAP * 2)
    assert len(kept) == VERIF_CAP
    assert [e.jti for e in kept[:2]] == [
        f"jti-{VERIF_CAP + extra - 1}",
        f"jti-{VERIF_CAP + extra - 2}",
    ]
    assert kept[-1].jti == f"jti-{extra}"  # the oldest five were trimmed
    report = await verify_audit(rstore)
    assert report.ok and report.records == VERIF_CAP + extra


async def test_lost_reply_is_detected_by_chain_length(rstore: RedisStore) -> None:
    await rstore.append_audit(make_event("key_rotate"))
    ctx = await rstore.context()
    # as after a timeout whose write went through: this writer's head is stale
    lane = ctx.chains._take("g")  # the lane the first append used: it is idle again
    ctx.chains._give_back("g", lane)
    lane.head = (0, GENESIS_HASH)
    await rstore.append_audit(make_event("key_rotate"))
    report = await verify_audit(rstore)
    assert report.ok and report.records == 2


# -- store copy ---------------------------------------------------------------------------
async def _fill(url: str) -> None:
    store = await open_store(url)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        await store.add_client(make_client("cli-1"), make_event("client_add"))
        for i, status in enumerate([VALID, INVALID, SUSPENDED, VALID]):
            subject = f"{i:02d}" * 32
            ref, card_ref = [await store.allocate_status_ref(subject) for _ in range(2)]
            await store.save_entitlement(
                EntitlementWrite(
                    ent=make_entitlement(ref, subject=subject, status=status),
                    expected_version=None,
                    status_updates=[(card_ref, SUSPENDED)] if i == 3 else [],
                    cards=[make_card(f"12345678{i:02d}", card_ref, subject=subject)],
                    audit=make_event("grant", subject=subject),
                )
            )
            proof = make_proof(f"jti-{i}", ref, subject=subject, issued_at=now)
            await store.save_proof(proof, f"9000{i}", make_event("issue", subject=subject))
            await store.check_and_record(
                CheckRequest(
                    ref=ref,
                    jti=f"jti-{i}",
                    subject=None,
                    org="Org",
                    now=now,
                    seen_window_s=600,
                    audit_by_status=VERIFY,
                )
            )
    finally:
        await store.close()


async def _snapshot(url: str) -> dict[str, object]:
    store = await open_store(url)
    now = datetime.now(UTC) + timedelta(seconds=1)
    try:
        subjects = [f"{i:02d}" * 32 for i in range(4)]
        lists = await store.status_list_ids()
        return {
            "clients": await store.list_clients(),
            "ents": [await store.list_entitlements(s) for s in subjects],
            "cards": await store.get_cards([f"12345678{i:02d}" for i in range(4)]),
            "lists": {i: await store.status_list_bytes(i) for i in lists},
            "codes": [await store.get_proof_by_code(f"9000{i}", now) for i in range(4)],
            "verifications": [await store.verifications_for(s, 10) for s in subjects],
            "audit": [r async for r in store.iter_audit()],
        }
    finally:
        await store.close()


async def test_store_copy_sqlite_redis_sqlite(tmp_path: Path, redis_url: str) -> None:
    first, back = f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
    await _fill(first)
    before = await _snapshot(first)
    out = io.StringIO()
    counts = await copy_store(first, redis_url, out=out)
    assert all(read == written for read, written in counts.values()), out.getvalue()
    assert counts["audit verified"][0] == len(before["audit"])  # type: ignore[arg-type]
    assert await _snapshot(redis_url) == before
    counts = await copy_store(redis_url, back, out=out)
    assert all(read == written for read, written in counts.values()), out.getvalue()
    assert await _snapshot(back) == before
    assert "verification" in out.getvalue()
    with pytest.raises(ConfigError, match="not empty"):
        await copy_store(first, redis_url, out=out)
    # the copies stay usable: a new write extends the log and it still verifies
    store = await open_store(redis_url)
    try:
        ref = await store.allocate_status_ref("00" * 32)
        assert ref.list_id == "1"  # one shard: SQLite's list numbering carries on
        await store.append_audit(make_event("key_rotate"))
        assert (await verify_audit(store)).ok
    finally:
        await store.close()


async def test_store_copy_redis_to_cluster(
    redis_url: str, redis_cluster: RedisClusterProcs
) -> None:
    redis_cluster.flushall()
    await _fill(redis_url)  # 16 shards
    counts = await copy_store(redis_url, redis_cluster.url, out=io.StringIO())
    assert all(read == written for read, written in counts.values())
    assert await _snapshot(redis_cluster.url) == await _snapshot(redis_url)


# -- bulk ingest --------------------------------------------------------------------------
async def test_bulk_allocation_fills_a_list_to_its_limit_then_opens_the_next(
    rstore: RedisStore, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A status list is only ever filled to its limit (half of it in production, so a
    holder hides in a crowd): one bulk call that crosses the limit moves on to a new
    list, and the counts it leaves behind let the next allocation carry on from there."""
    from app.storage.redis import bulk as redis_bulk

    monkeypatch.setattr(redis_bulk, "_FILL_LIMIT", 5)
    subjects = [f"{i:07x}0" + "0" * 56 for i in range(1, 13)]  # all in shard 0
    refs = await rstore.allocate_status_refs(subjects)
    refs += await rstore.allocate_status_refs(subjects[:4])
    per_list: dict[str, int] = {}
    for ref in refs:
        per_list[ref.list_id] = per_list.get(ref.list_id, 0) + 1
    assert len({(r.list_id, r.idx) for r in refs}) == 16
    # shard 0's lists are 1, 17, 33, 49: filled in turn, never past the limit
    assert per_list == {"1": 5, "17": 5, "33": 5, "49": 1}
    with redis_server.client() as r:
        lists = r.hgetall(Layout(16).lists_key("0"))
    assert lists == {b"count": b"4", b"a0": b"5", b"a1": b"5", b"a2": b"5", b"a3": b"1"}


async def test_a_bulk_write_of_more_records_than_one_push_takes_keeps_the_log_whole(
    redis_url: str,
) -> None:
    """On a one-shard store a whole batch chunk is one script, and its audit records go
    in with RPUSHes of at most 1000: all 1,201 arrive, in order, and the chain verifies."""
    store = await open_store(redis_url + "?shards=1")
    try:
        subjects = [f"{i:08x}" * 8 for i in range(1201)]
        refs = await store.allocate_status_refs(subjects)
        writes = [
            EntitlementWrite(
                ent=make_entitlement(ref, subject=s),
                expected_version=None,
                audit=make_event("grant", subject=s),
            )
            for s, ref in zip(subjects, refs, strict=True)
        ]
        assert await store.save_entitlements(writes) == [True] * 1201
        report = await verify_audit(store)
        assert report.ok and report.records == 1201
        logged = [r.event.subject async for r in store.iter_audit()]
        assert logged == subjects
    finally:
        await store.close()


# -- the multiplexed script connections -------------------------------------------------
async def test_scripts_survive_a_flushed_script_cache(
    rstore: RedisStore, redis_server: RedisServer
) -> None:
    """A restarted or flushed Redis has forgotten the scripts: NOSCRIPT loads them again."""
    assert await rstore.hit_rate("flush", 60, datetime.now(UTC)) == 1
    with redis_server.client() as r:
        r.script_flush()
    assert await rstore.hit_rate("flush", 60, datetime.now(UTC)) == 2


async def test_callers_that_give_up_do_not_shift_the_replies_of_others(
    rstore: RedisStore,
) -> None:
    """Replies are matched to callers by position on a shared connection: a cancelled
    call keeps its place, so every caller still gets its own answer (key i was hit i
    times before, so each answer names its key)."""
    now = datetime.now(UTC)
    for i in range(40):
        await asyncio.gather(*(rstore.hit_rate(f"k{i}", 60, now) for _ in range(i)))
    calls = [asyncio.ensure_future(rstore.hit_rate(f"k{i}", 60, now)) for i in range(40)]
    await asyncio.sleep(0)  # all under way
    for call in calls[::3]:
        call.cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert [done[i] for i in range(40) if i % 3] == [i + 1 for i in range(40) if i % 3]
    # the connections go on answering in order
    again = await asyncio.gather(*(rstore.hit_rate(f"k{i}", 60, now) for i in range(1, 40, 3)))
    assert again == [i + 2 for i in range(1, 40, 3)]
