"""The bucketed layout of the Redis store (`app.storage.redis.keys`) and the move of a
store of the earlier layout to it (`app.storage.redis.migrate`), on one server and on a
cluster.

The earlier layout is built here with raw commands from what the store holds: each
bucket's holders put back into a hash of their own (`subj:<subject>`, records compact or
JSON, `v:<type>` versions), each citizen's index into a list (`verif:<subject>` of
"<chain>\\n<seq>"), and each jti's checks into its counter and sorted set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from conftest import store_url
from factories import T0, at, make_entitlement, make_event, make_proof
from redis.cluster import RedisCluster

from app.audit.verify import verify_audit
from app.domain.records import (
    VALID,
    CheckRequest,
    Entitlement,
    EntitlementWrite,
    Holder,
    StatusRef,
)
from app.storage import open_store
from app.storage._lean import decode_held_entitlement, encode_entitlement, encode_held_entitlement
from app.storage.redis import migrate
from app.storage.redis.index import entries
from app.storage.redis.keys import ENT, INDEX, Layout, split_field, subject_token
from app.storage.redis.store import RedisStore

pytestmark = pytest.mark.cluster

HEX_A, HEX_B = "a1" * 32, "b2" * 32
TEXT = "imported holder 7"  # not a hex HMAC: an import or a test


@pytest.fixture(params=["redis", "cluster"])
async def rstore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RedisStore]:
    opened = await open_store(store_url(request, request.param, tmp_path))
    assert isinstance(opened, RedisStore)
    try:
        yield opened
    finally:
        await opened.close()


def _raw(url: str) -> Any:
    if url.startswith("redis+cluster://"):
        host, port = url.removeprefix("redis+cluster://").split("/")[0].split(":")
        return RedisCluster(host=host, port=int(port))
    return redis.Redis.from_url(url)


def _url(store: RedisStore) -> str:
    u = store.url
    scheme = "redis+cluster" if u.cluster else "redis"
    return f"{scheme}://{u.host}:{u.port}" + ("" if u.cluster else f"/{u.db}")


async def _layout(store: RedisStore) -> Layout:
    return (await store.context()).layout


async def _save(store: RedisStore, ent: Entitlement, expected: int | None) -> None:
    event = make_event("grant" if expected is None else "update", subject=ent.subject)
    await store.save_entitlement(EntitlementWrite(ent=ent, expected_version=expected, audit=event))


async def _grant(store: RedisStore, subject: str, type_id: str) -> Entitlement:
    ref = await store.allocate_status_ref(subject)
    ent = make_entitlement(ref, subject=subject, type_id=type_id)
    await _save(store, ent, None)
    return ent


def _same_bucket_subjects(layout: Layout) -> tuple[str, str]:
    """Two hex subjects whose entitlements share a bucket key."""
    seen: dict[str, str] = {}
    n = 0
    while True:
        subject = f"{n:08x}" + "c3" * 28
        key = layout.ent_key(subject)[1]
        if key in seen:
            return seen[key], subject
        seen[key] = subject
        n += 7919


async def test_a_shared_bucket_keeps_its_holders_apart(rstore: RedisStore) -> None:
    layout = await _layout(rstore)
    one, other = _same_bucket_subjects(layout)
    a = await _grant(rstore, one, "parking")
    b = await _grant(rstore, other, "parking")
    revoked = msgspec.structs.replace(a, status=1, version=2, reason="moved")
    await _save(rstore, revoked, 1)
    assert await rstore.get_entitlement("parking", one) == revoked
    assert await rstore.get_entitlement("parking", other) == b
    assert await rstore.list_entitlements(one) == [revoked]
    assert await rstore.list_entitlements(other) == [b]


async def test_many_types_of_one_holder_and_text_subjects(rstore: RedisStore) -> None:
    types = [f"type_{i:02d}" for i in range(25)]
    granted = [await _grant(rstore, HEX_A, t) for t in reversed(types)]
    text = await _grant(rstore, TEXT, "parking")
    # a text whose UTF-8 is the raw bytes of a hex subject is another holder
    twin_text = "a" * 32
    twin_hex = "61" * 32
    twin_a = await _grant(rstore, twin_text, "parking")
    twin_b = await _grant(rstore, twin_hex, "parking")
    assert await rstore.list_entitlements(HEX_A) == sorted(granted, key=lambda e: e.type)
    assert await rstore.list_entitlements(TEXT) == [text]
    assert await rstore.list_entitlements(twin_text) == [twin_a]
    assert await rstore.list_entitlements(twin_hex) == [twin_b]
    assert await rstore.get_entitlements([("type_07", HEX_A), ("parking", TEXT)]) == [
        next(e for e in granted if e.type == "type_07"),
        text,
    ]


def test_a_field_names_its_subject_and_type() -> None:
    for subject in (HEX_A, TEXT, "a" * 32, "é" * 40):
        field = subject_token(subject) + b"parking"
        assert split_field(field) == (subject, "parking")
    assert subject_token("a" * 32) != subject_token("61" * 32)


def test_a_held_value_round_trips_with_its_version_first() -> None:
    ent = make_entitlement(StatusRef("3", 9), subject=HEX_B, version=12)
    ent = msgspec.structs.replace(ent, attributes={"zone": "B"}, holder=Holder("Ö", "Ü"))
    value = encode_held_entitlement(ent)
    assert value.startswith(b"12 ")
    assert decode_held_entitlement(ent.type, ent.subject, value) == ent


# -- the move from the earlier layout ---------------------------------------------------
def _to_earlier_layout(r: Any, layout: Layout) -> int:
    """Rewrite what the store holds in the earlier layout; returns the keys written."""
    written = 0
    for key in list(r.scan_iter(match=f"{{sp:*}}:{ENT}:*")):
        label = key.decode()[len("{sp:") : key.decode().index("}")]
        for i, (field, value) in enumerate(sorted(r.hgetall(key).items())):
            subject, type_id = split_field(field)
            ent = decode_held_entitlement(type_id, subject, value)
            # both forms of record of earlier releases: compact and JSON
            record = msgspec.json.encode(ent) if i % 2 else encode_entitlement(ent)
            old = migrate.old_subject_key(label, subject)
            r.hset(old, mapping={type_id: record, f"v:{type_id}": ent.version})
            written += 1
        r.delete(key)
    for key in list(r.scan_iter(match=f"{{sp:*}}:{INDEX}:*")):
        label = key.decode()[len("{sp:") : key.decode().index("}")]
        for field, value in r.hgetall(key).items():
            subject = split_field(field)[0]
            items = [f"{chain}\n{seq}".encode() for chain, seq in entries(label, value)]
            r.rpush(migrate.old_index_key(label, subject), *items)  # newest first
            written += 1
        r.delete(key)
    for key in list(r.scan_iter(match="{sp:*}:proof:*")):
        fields = r.hgetall(key)
        if b"n" not in fields:
            continue
        head, jti = key.decode().split(":proof:")
        r.set(f"{head}:seenc:{jti}", fields[b"n"], px=600_000)
        orgs = {f[1:]: int(v) for f, v in fields.items() if f[:1] == b"o"}
        r.zadd(f"{head}:seeno:{jti}", orgs)
        r.pexpire(f"{head}:seeno:{jti}", 600_000)
        r.hdel(key, b"n", *(b"o" + org for org in orgs))
        written += 1
    r.hdel(Layout.META, "layout")
    return written


async def _fill(store: RedisStore) -> dict[str, Any]:
    """Holders, checks and a proof's checks; what a reader sees of them."""
    subjects = [HEX_A, HEX_B, TEXT, *_same_bucket_subjects(await _layout(store))]
    for i, subject in enumerate(subjects):
        for type_id in ("parking", "pool")[: 1 + i % 2]:
            ent = await _grant(store, subject, type_id)
            if i == 1:  # a later version
                await _save(store, msgspec.structs.replace(ent, version=2, status=1), 1)
    for i in range(5):
        event = make_event("verify", when=at(1 + i), subject=subjects[i % 2], org=f"Org {i}")
        await store.append_audit(event)
    ref = await store.allocate_status_ref(HEX_A)
    proof = make_proof("jti-seen", ref, subject=HEX_A, issued_at=T0, lifetime_s=3600)
    await store.save_proof(proof, None, make_event("issue", subject=HEX_A, jti="jti-seen"))
    seen = []
    for org in ("org-1", "org-2", "org-1"):
        event = make_event("verify", subject=HEX_A, jti="jti-seen", org=org)
        outcome = await store.check_and_record(
            CheckRequest(
                ref=ref,
                jti="jti-seen",
                subject=HEX_A,
                org=org,
                now=T0 + timedelta(seconds=10),
                seen_window_s=300,
                audit_by_status={VALID: event, -1: event},
            )
        )
        seen.append(outcome.seen)
    return {
        "holders": {s: await store.list_entitlements(s) for s in subjects},
        "checks": {s: await store.verifications_for(s, 50) for s in subjects},
        "seen": seen,
        "proof": ref,
    }


async def _view(store: RedisStore, subjects: list[str]) -> dict[str, Any]:
    return {
        "holders": {s: await store.list_entitlements(s) for s in subjects},
        "checks": {s: await store.verifications_for(s, 50) for s in subjects},
    }


async def _next_seen(store: RedisStore, ref: StatusRef) -> Any:
    event = make_event("verify", subject=HEX_A, jti="jti-seen", org="org-3")
    outcome = await store.check_and_record(
        CheckRequest(
            ref=ref,
            jti="jti-seen",
            subject=HEX_A,
            org="org-3",
            now=T0 + timedelta(seconds=20),
            seen_window_s=300,
            audit_by_status={VALID: event, -1: event},
        )
    )
    return outcome.seen


def _old_keys(r: Any) -> list[bytes]:
    return [
        k
        for pattern in ("{sp:*}:subj:*", "{sp:*}:verif:*", "{sp:*}:seen*")
        for k in r.scan_iter(match=pattern)
    ]


async def test_a_store_of_the_earlier_layout_moves_to_buckets_when_opened(
    rstore: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    before = await _fill(rstore)
    subjects = list(before["holders"])
    url = _url(rstore)
    layout = await _layout(rstore)
    await rstore.close()
    r = _raw(url)
    try:
        assert _to_earlier_layout(r, layout) > len(subjects)
        assert _old_keys(r)
        with caplog.at_level(logging.INFO, logger="statuspass.store"):
            store = await open_store(url)
        assert isinstance(store, RedisStore)
        try:
            await store.ping()
            assert not _old_keys(r)
            assert int(r.hget(Layout.META, "layout")) == migrate.LAYOUT
            assert any("moved" in m for m in caplog.messages)
            after = await _view(store, subjects)
            assert after == {k: before[k] for k in ("holders", "checks")}
            # the checks of the jti carry on from their count and organisations
            seen = await _next_seen(store, before["proof"])
            assert (seen.count, seen.organisations) == (3, 2)
            report = await verify_audit(store)
            assert report.ok, report
            # and the store writes on: a new version of a moved holder
            ent = before["holders"][HEX_B][0]
            await _save(store, msgspec.structs.replace(ent, version=3), 2)
            assert (await store.get_entitlement(ent.type, HEX_B)).version == 3  # type: ignore[union-attr]
        finally:
            await store.close()
    finally:
        r.close()


async def test_an_interrupted_move_goes_on_at_the_next_start(rstore: RedisStore) -> None:
    before = await _fill(rstore)
    subjects = list(before["holders"])
    url = _url(rstore)
    layout = await _layout(rstore)
    ctx = await rstore.context()
    r = _raw(url)
    try:
        _to_earlier_layout(r, layout)
        # a start that died after moving one holder and one index (each moves whole,
        # in one script), before the meta record said the layout was done
        holder = next(iter(r.scan_iter(match="{sp:*}:subj:*")))
        index = next(iter(r.scan_iter(match="{sp:*}:verif:*")))
        mover = migrate._Mover(ctx.client, layout, ctx.scripts)
        label = migrate._parts(holder, "subj")[0]
        assert await mover.holders(label, [holder]) == 1
        assert await mover.indexes(migrate._parts(index, "verif")[0], [index]) == 1
        # moving a key moved already does nothing (two processes starting at once)
        assert await mover.holders(label, [holder]) == 0
        assert r.hget(Layout.META, "layout") is None
        await rstore.close()
        for _ in range(2):  # the next start moves the rest; the one after finds nothing
            store = await open_store(url)
            assert isinstance(store, RedisStore)
            try:
                await store.ping()
                assert not _old_keys(r)
                after = await _view(store, subjects)
                assert after == {k: before[k] for k in ("holders", "checks")}
                assert (await verify_audit(store)).ok
            finally:
                await store.close()
    finally:
        r.close()
