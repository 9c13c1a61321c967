"""The `store` fixture: every contract test runs once per backend in `params`.

"redis" and "cluster" run on redis-server processes this session starts (and stops by
PID), never on a Redis that happens to run on the machine; each test gets them empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection
from redis_servers import RedisClusterProcs, RedisServer

from app.domain.ports import Store
from app.storage import open_store
from app.storage.redis import mux as redis_mux


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A single node, appendonly yes + appendfsync always, for the whole session."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcs]:
    """A 3-master Redis Cluster for the whole session."""
    cluster = RedisClusterProcs.start(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


def store_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """The URL of an empty store of `backend` (FLUSHALL on our own servers)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flushall()
        return server.url
    if backend == "cluster":
        cluster: RedisClusterProcs = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        return cluster.url
    raise AssertionError(f"unknown store backend {backend!r}")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("redis", marks=pytest.mark.cluster),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of the backend named by the parameter, closed afterwards."""
    opened = await open_store(store_url(request, request.param, tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Requests sent to Redis by this process (each one a round trip, a pipeline
    included), counted in `[0]`: redis-py's connections and the multiplexed one."""
    counter = [0]
    original = AbstractConnection.send_packed_command

    async def counting(
        self: AbstractConnection, command: object, check_health: bool = True
    ) -> None:
        counter[0] += 1
        await original(self, command, check_health)  # type: ignore[arg-type]

    mux_call = redis_mux._Connection.call

    def counting_mux(self: redis_mux._Connection, args: Sequence[Any]) -> Any:
        counter[0] += 1
        return mux_call(self, args)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    monkeypatch.setattr(redis_mux._Connection, "call", counting_mux)
    yield counter
