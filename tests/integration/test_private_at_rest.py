"""What the stores keep on disk is the service's own (issue 19, item 9).

* SQLite: the folder the store makes is 0700, the database, its WAL and its shared
  memory 0600, whatever the umask; a folder or file open to others is reported in
  development and refused in production.
* Numeric codes are stored as a keyed digest, never as their digits, on every store.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from app_on_loop import BACKENDS, backend_settings, granted_proof, worker
from conftest import store_url
from factories import make_event
from redis_servers import RedisClusterProcs, RedisServer

from app.cli.store_copy import copy_store
from app.config import Settings
from app.errors import ConfigError
from app.keys.ring import load_keyring
from app.storage import open_store
from app.tokens import code_digest, code_digest_key
from tests.integration.api.conftest import FrozenClock, make_settings


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files came out 0644 and folders 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- SQLite files -----------------------------------------------------------------------
@pytest.mark.usefixtures("umask_022")
async def test_a_new_sqlite_store_is_private(tmp_path: Path) -> None:
    db = tmp_path / "var" / "statuspass.sqlite3"
    store = await open_store(f"sqlite:///{db}")
    try:
        await store.append_audit(make_event("key_rotate"))  # the WAL and -shm exist now
        files = {p.name: mode_of(p) for p in db.parent.iterdir()}
    finally:
        await store.close()
    assert mode_of(db.parent) == 0o700
    assert files == {
        "statuspass.sqlite3": 0o600,
        "statuspass.sqlite3-wal": 0o600,
        "statuspass.sqlite3-shm": 0o600,
    }


def _loose(tmp_path: Path, what: str) -> tuple[Path, Path]:
    """A store written by an older release: a 0755 folder, or a 0644 database file."""
    folder = tmp_path / "var"
    folder.mkdir(mode=0o700)
    db = folder / "statuspass.sqlite3"
    if what == "folder":
        folder.chmod(0o755)
        return db, folder
    db.touch(mode=0o644)
    db.chmod(0o644)
    return db, db


@pytest.mark.parametrize("what", ["folder", "file"])
async def test_a_store_open_to_others_is_reported_in_development(
    tmp_path: Path, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    db, loose = _loose(tmp_path, what)
    with caplog.at_level(logging.WARNING, logger="statuspass.store"):
        store = await open_store(f"sqlite:///{db}")
        await store.close()
    wanted = "700" if what == "folder" else "600"
    assert any(
        f"chmod {wanted} {loose}" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    ), caplog.text
    assert mode_of(loose) & 0o077  # not changed behind the operator's back


@pytest.mark.parametrize("what", ["folder", "file"])
async def test_a_store_open_to_others_is_refused_in_production(tmp_path: Path, what: str) -> None:
    db, loose = _loose(tmp_path, what)
    wanted = "700" if what == "folder" else "600"
    with pytest.raises(ConfigError, match=re.escape(f"chmod {wanted} {loose}")):
        await open_store(f"sqlite:///{db}", production=True)
    # a private one opens in production too
    loose.chmod(0o700 if what == "folder" else 0o600)
    store = await open_store(f"sqlite:///{db}", production=True)
    await store.close()


# -- numeric codes at rest ------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return backend_settings(request, tmp_path)


def _redis_bytes(client: redis.Redis) -> bytes:
    """Every key and every value of a node, as bytes."""
    out = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                out += [field, value]
        elif kind == b"list":
            out += client.lrange(key, 0, -1)
        elif kind == b"set":
            out += client.smembers(key)
        elif kind == b"zset":
            out += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    return b"\n".join(out)


def stored_bytes(request: pytest.FixtureRequest, settings: Settings) -> bytes:
    """All a store holds: the SQLite files, or every key and value of every Redis node."""
    if settings.store_url.startswith("sqlite:///"):
        return _sqlite_bytes(Path(settings.store_url.removeprefix("sqlite:///")))
    if settings.store_url.startswith("redis+cluster://"):
        cluster: RedisClusterProcs = request.getfixturevalue("redis_cluster")
        return b"".join(_redis_bytes(node.client()) for node in cluster.nodes)
    server: RedisServer = request.getfixturevalue("redis_server")
    return _redis_bytes(server.client())


async def test_codes_are_stored_as_keyed_digests(
    request: pytest.FixtureRequest, settings: Settings
) -> None:
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        assert (await api.verify(museum, code=proof["code"]))["result"] == "valid"
        stored = stored_bytes(request, settings)
    digits = proof["code"].replace(" ", "")
    secret = load_keyring(settings.keys_dir).pseudonym_secret
    assert digits.encode() not in stored
    assert code_digest(digits, code_digest_key(secret)).encode() in stored


@pytest.mark.cluster
@pytest.mark.parametrize("backend", ["redis", "cluster"])
async def test_clear_codes_of_an_older_release_answer_nothing_and_are_not_copied(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """On Redis, a code stored in clear before the upgrade (a key of its own, with a TTL
    of minutes) is simply never looked up again: it answers `unknown_code` at once and
    `store copy` leaves it behind."""
    settings = make_settings(tmp_path, store_url=store_url(request, backend, tmp_path))
    async with worker(settings, FrozenClock()) as api:
        museum = await api.client("verifier", ["social_tariff"])
        proof = await granted_proof(api)
        digits = proof["code"].replace(" ", "")
        digest = code_digest(digits, code_digest_key(api.services.keys.keyring.pseudonym_secret))
        with _sync_client(request, backend) as client:
            # what the previous release wrote: the digits in the key, the same value
            value = client.get(f"{{spc:{digest}}}")
            assert value is not None
            client.set(f"{{spc:{digits}}}", value, px=300_000)
            client.delete(f"{{spc:{digest}}}")
        assert (await api.verify(museum, code=proof["code"]))["reason"] == "unknown_code"
    copy = tmp_path / "copy" / "s.sqlite3"
    await copy_store(settings.store_url, f"sqlite:///{copy}", out=io.StringIO())
    assert digits.encode() not in _sqlite_bytes(copy)


def _sync_client(request: pytest.FixtureRequest, backend: str) -> redis.Redis:
    if backend == "cluster":
        cluster: RedisClusterProcs = request.getfixturevalue("redis_cluster")
        return redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)  # type: ignore[return-value]
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.client()


def _sqlite_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
