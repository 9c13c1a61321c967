"""The `store` fixture: every contract test runs once per backend in `params`.

"redis" and "cluster" run on redis-server processes this session starts (and stops by
PID), never on a Redis that happens to run on the machine; each test gets them empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis_servers import RedisClusterProcs, RedisServer

from app.domain.ports import Store
from app.storage import open_store


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
