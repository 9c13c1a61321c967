"""Records of older releases (JSON) on a store that now writes compact ones: SQLite
rewrites them at the schema 6 migration, Redis reads them as they are and
`statuspass store copy` writes them compact."""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing
from pathlib import Path

import msgspec
import pytest
import redis
from factories import T0, at, make_card, make_entitlement, make_event, make_proof
from redis_servers import RedisServer

from app.audit.archive import archive_audit
from app.audit.format import decode_event_strict, record_hash
from app.audit.segments import ArchiveRead, read_archive
from app.audit.verify import verify_audit
from app.cli.store_copy import copy_store
from app.domain.events import GENESIS_HASH, encode_event, encode_event_legacy
from app.domain.records import AuditTrim, EntitlementWrite, StatusRef
from app.keys.audit import load_audit_keys, rotate_audit_key
from app.storage import open_store
from app.storage._common import to_us
from app.storage.redis.index import entries, pointer, unindex
from app.storage.redis.keys import GLOBAL, Layout, encode_legacy_chain_record, subject_token
from app.storage.redis.migrate import old_subject_key
from app.storage.redis.store import RedisStore
from app.storage.sqlite import schema as sqlite_schema

pytestmark = pytest.mark.cluster

SUBJECT = "9f2c1a0b5e6d7f80" * 4


def _records() -> tuple:  # type: ignore[type-arg]
    ref = StatusRef("1", 7)
    ent = make_entitlement(ref, subject=SUBJECT)
    card = make_card("1234567800", ref, subject=SUBJECT)
    proof = make_proof("jti-1", ref, subject=SUBJECT, issued_at=T0, lifetime_s=600)
    return ent, card, proof


async def test_sqlite_schema_5_rows_are_rewritten_compact(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    ent, card, proof = _records()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        steps = (
            sqlite_schema._SCHEMA_V1,
            sqlite_schema._SCHEMA_V2,
            sqlite_schema._SCHEMA_V3,
            sqlite_schema._SCHEMA_V4,
            sqlite_schema._SCHEMA_V5,
        )
        for statement in (s for step in steps for s in step):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO entitlements VALUES (?, ?, ?, ?)",
            (ent.type, ent.subject, ent.version, msgspec.json.encode(ent)),
        )
        conn.execute(
            "INSERT INTO cards VALUES (?, ?, ?)",
            (card.number, card.subject, msgspec.json.encode(card)),
        )
        conn.execute(
            "INSERT INTO proofs (jti, subject, expires_us, data, code) VALUES (?, ?, ?, ?, ?)",
            (proof.jti, proof.subject, to_us(proof.expires_at), msgspec.json.encode(proof), "a-dg"),
        )
        conn.execute("PRAGMA user_version = 5")

    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.get_entitlement(ent.type, SUBJECT) == ent
        assert await store.get_cards([card.number]) == [card]
        assert await store.get_proof_by_code("a-dg", T0) == proof
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_schema.SCHEMA_VERSION,)
        for table in ("entitlements", "cards", "proofs"):
            (data,) = conn.execute(f"SELECT data FROM {table}").fetchone()
            assert bytes(data)[:1] != b"{", table
            assert b"valid_until" not in bytes(data), table


async def test_redis_reads_json_records_and_copy_writes_them_compact(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.flushall()
    store = await open_store(redis_server.url)
    try:  # a fresh store: its layout (shards) is written on first use
        assert isinstance(store, RedisStore)
        await store.ping()
        assert store.shards is not None
        layout = Layout(store.shards)
    finally:
        await store.close()
    label = str(layout.shard_of_subject(SUBJECT))
    ref = StatusRef(layout.list_id(int(label), 0), 7)
    ent = make_entitlement(ref, subject=SUBJECT)
    card = make_card("1234567800", ref, subject=SUBJECT)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        # a holder of the earlier layout (a hash of its own), on a store of before the
        # buckets (no `layout` in its meta record): moved to its bucket when opened
        raw.hset(
            old_subject_key(label, SUBJECT),
            mapping={ent.type: msgspec.json.encode(ent), f"v:{ent.type}": ent.version},
        )
        raw.hdel(Layout.META, "layout")
        raw.hset(Layout.CARD_DIR, card.number, label)
        raw.set(layout.card_key(label, card.number), msgspec.json.encode(card))

        store = await open_store(redis_server.url)
        try:
            assert await store.get_entitlement(ent.type, SUBJECT) == ent
            assert await store.list_entitlements(SUBJECT) == [ent]
            assert await store.get_cards([card.number]) == [card]
            # a new write of the same entitlement is stored compact
            newer = msgspec.structs.replace(ent, version=2)
            await store.save_entitlement(
                EntitlementWrite(
                    ent=newer,
                    expected_version=1,
                    status_updates=[],
                    cards=[],
                    audit=make_event("update", subject=SUBJECT),
                )
            )
            assert not raw.exists(old_subject_key(label, SUBJECT))
            _label, bucket, field = layout.ent_place(SUBJECT, ent.type)
            stored = raw.hget(bucket, field)
            assert stored is not None and stored.startswith(b"2 ") and stored[2:3] != b"{"
            assert await store.get_entitlement(ent.type, SUBJECT) == newer
        finally:
            await store.close()
    finally:
        raw.close()

    target = f"sqlite:///{tmp_path / 'copy.sqlite3'}"
    await copy_store(redis_server.url, target, out=io.StringIO())
    with closing(sqlite3.connect(tmp_path / "copy.sqlite3")) as conn:
        rows = conn.execute("SELECT data FROM entitlements UNION ALL SELECT data FROM cards")
        assert all(bytes(d)[:1] != b"{" for (d,) in rows)


async def test_redis_audit_chain_of_the_earlier_layout_verifies_extends_and_trims(
    redis_server: RedisServer,
) -> None:
    """Chain elements stored with both hashes in hex (earlier releases) stay readable
    beside compact ones: the chain verifies, grows, and its old records archive."""
    redis_server.flushall()
    store = await open_store(redis_server.url)
    try:
        assert isinstance(store, RedisStore)
        await store.ping()
        assert store.shards is not None
        layout = Layout(store.shards)
    finally:
        await store.close()
    chain, prev, items = "g/0123456789abcdef.0", GENESIS_HASH, []
    for seq in (1, 2, 3):
        data = encode_event_legacy(make_event("client_add", when=at(seq)))
        digest = record_hash(chain, seq, prev, data)
        items.append(encode_legacy_chain_record(seq, prev, digest, data))
        prev = digest
    raw = redis.Redis.from_url(redis_server.url)
    try:
        raw.rpush(layout.chain_key(GLOBAL, chain), *items)
        raw.sadd(layout.chains_key(GLOBAL), chain)
        store = await open_store(redis_server.url)
        try:
            assert (await verify_audit(store)).ok
            await store.append_audit(make_event("key_rotate", when=at(10)))
            report = await verify_audit(store)
            assert report.ok, report.problem
            assert report.records == 4
            # new records are compact: seq, the 32-byte hash, the event
            (new_chain,) = [c for c in report.chains if c != chain]
            element = raw.lindex(layout.chain_key(GLOBAL, new_chain), 0)
            assert (
                element is not None and element.startswith(b"1\n") and 0x90 <= element[34] <= 0x9F
            )
            assert await store.trim_archived(
                AuditTrim(chain=chain, upto=2, digest=items_digest(items[1]), before_us=0)
            )
            assert raw.llen(layout.chain_key(GLOBAL, chain)) == 1
        finally:
            await store.close()
    finally:
        raw.close()


def items_digest(element: bytes) -> str:
    return element.split(b"\n")[2].decode()


async def test_archived_binary_events_with_newline_bytes_verify(tmp_path: Path) -> None:
    """Stored events are binary: their bytes may hold newlines (here in the pseudonym
    and the time), which the segment's length lines carry through."""
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    audit_keys = load_audit_keys(keys)
    store = await open_store(url)
    try:
        for i in range(5):
            event = make_event(
                "verify", when=at(10 + i), subject="0a" * 32, jti=f"j\n{i}", org="Mus\neum"
            )
            assert b"\n" in encode_event(event)
            await store.append_audit(event)
        result = await archive_audit(
            store,
            tmp_path / "archive",
            at(13),
            signer=(audit_keys.name, audit_keys.private),
            now=at(20),
        )
        assert result.records == 3
        out = ArchiveRead()
        archived = list(read_archive(tmp_path / "archive", out))
        assert out.problems == [] and [r.seq for r in archived] == [1, 2, 3]
        assert decode_event_strict(archived[0].data).org == "Mus\neum"
    finally:
        await store.close()


async def test_redis_index_entries_leave_with_their_archived_checks(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The citizens' index is bounded by the window: an archived check's entry goes, and
    a citizen whose every check was archived has no index left."""
    redis_server.flushall()
    keys = tmp_path / "keys"
    rotate_audit_key(keys, name="test.example/audit")
    audit_keys = load_audit_keys(keys)
    once, often = "0b" * 32, "0c" * 32
    store = await open_store(redis_server.url)
    try:
        assert isinstance(store, RedisStore)
        await store.append_audit(make_event("verify", when=at(1), subject=once, org="Museum"))
        for i in range(4):
            event = make_event("verify", when=at(2 + i), subject=often, org=f"Pool {i}")
            await store.append_audit(event)
        assert store.shards is not None
        layout = Layout(store.shards)
        raw = redis.Redis.from_url(redis_server.url)

        def indexed(subject: str) -> int:
            return sum(
                len(
                    entries(
                        lb, raw.hget(layout.index_key(lb, subject), subject_token(subject)) or b""
                    )
                )
                for lb in layout.labels()
            )

        def fields(subject: str) -> int:
            return sum(
                raw.hexists(layout.index_key(lb, subject), subject_token(subject))
                for lb in layout.labels()
            )

        try:
            assert indexed(once) + indexed(often) == 5
            await archive_audit(
                store,
                tmp_path / "archive",
                at(4),
                signer=(audit_keys.name, audit_keys.private),
                now=at(10),
            )
            assert fields(once) == 0
            assert indexed(often) == 2
        finally:
            raw.close()
        assert [e.org for e in await store.verifications_for(often, 10)] == ["Pool 3", "Pool 2"]
        assert (await verify_audit(store)).records == 2
    finally:
        await store.close()


async def test_redis_unindex_drops_exactly_the_given_entries_across_buckets_and_pages(
    redis_server: RedisServer,
) -> None:
    """One UNINDEX script takes many buckets of a shard, `page` subjects a script: every
    entry named goes (a field left empty with it), every other stays, in its order."""
    redis_server.flushall()
    store = await open_store(redis_server.url)
    try:
        assert isinstance(store, RedisStore)
        ctx = await store.context()
        layout, label = ctx.layout, "3"
        chain, other = f"{label}/{'ab' * 8}.1", "main"
        subjects = [f"{i:02x}" * 32 for i in range(1, 12)]
        assert len({layout.index_key(label, s) for s in subjects}) > 5  # many buckets
        for seq, subject in enumerate(subjects * 3, start=1):  # 3 entries a subject
            for name in (chain, other):
                entry = subject_token(subject) + pointer(label, name, seq)
                await ctx.scripts.run("INDEX", [layout.index_key(label, subject)], [entry])
        # of `chain`: every entry of the first four subjects, the oldest of the others
        n = len(subjects)
        gone = [(s, seq) for seq, s in enumerate(subjects * 3, start=1) if seq <= n or
                subjects.index(s) < 4]  # fmt: skip
        await unindex(layout, ctx.scripts, label, chain, gone, 3)
        raw = redis.Redis.from_url(redis_server.url)
        try:
            for i, s in enumerate(subjects):
                packed = raw.hget(layout.index_key(label, s), subject_token(s)) or b""
                kept = [(chain, i + 1 + n * k) for k in (2, 1) if i >= 4]
                kept_other = [(other, i + 1 + n * k) for k in (2, 1, 0)]
                # newest first: of one seq, `other`'s entry was put after `chain`'s
                assert entries(label, packed) == sorted(
                    kept + kept_other, key=lambda e: (-e[1], e[0] == chain)
                ), s
        finally:
            raw.close()
    finally:
        await store.close()
