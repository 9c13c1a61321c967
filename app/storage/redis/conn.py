"""Connecting to Redis or a Redis Cluster: URL parsing, fail-fast client settings, and
the one place where redis-py exceptions become `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection as _AsyncConnection
from redis.asyncio.connection import SSLConnection as _AsyncSSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from app.errors import ConfigError, StoreUnavailable
from app.storage.redis.keys import DEFAULT_SHARDS

_hiredis: Any
try:
    import hiredis as _hiredis
except ImportError:  # pragma: no cover - redis-py then packs in Python, as before
    _hiredis = None

__all__ = [
    "Client",
    "RedisUrl",
    "ScriptRunner",
    "Scripts",
    "as_bytes",
    "connect",
    "guarded",
    "parse_url",
    "unavailable",
]

T = TypeVar("T")

#: what `RedisStore` talks to: the two share the command API we use
Client = Redis | RedisCluster

#: connections per process (per node on a cluster). Bounded so a stalled Redis cannot
#: make a worker open sockets without end; a request waits at most the timeout for one.
_MAX_CONNECTIONS = 64
_MAX_CLUSTER_CONNECTIONS = 512
#: a connection idle this long is PINGed before use, so a dead socket (Redis restarted,
#: a NAT forgot us) fails over to a fresh one instead of failing a request
_HEALTH_CHECK_S = 15


@dataclass(frozen=True)
class RedisUrl:
    cluster: bool
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    ssl: bool
    shards: int | None  # None: whatever the store already has, else DEFAULT_SHARDS
    trust_durability: bool  # the operator vouches for settings CONFIG cannot show


def parse_url(url: str) -> RedisUrl:
    """`redis://[user:pass@]host:port/db[?shards=N]`, `rediss://…` (TLS) or
    `redis+cluster://host:port` (a seed node; the rest is discovered).

    `durability=trusted` accepts settings that cannot be read (CONFIG disabled on managed
    services): the operator then answers for them.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError as exc:
        raise ConfigError(f"bad Redis store URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "redis+cluster"):
        raise ConfigError(f"not a Redis URL scheme: {scheme!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ConfigError("the Redis database is a number: redis://host:port/0")
    db = int(path or 0)
    if scheme == "redis+cluster" and db:
        raise ConfigError("a Redis Cluster has only database 0")
    params = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(params) - {"shards", "durability"}
    if unknown:
        raise ConfigError(f"unknown Redis store options: {', '.join(sorted(unknown))}")
    shards = None
    if "shards" in params:
        raw = params["shards"][-1]
        if not raw.isdigit() or not 1 <= int(raw) <= 1024:
            raise ConfigError("shards must be a number in 1..1024")
        shards = int(raw)
    trust = params.get("durability", [""])[-1]
    if trust not in ("", "trusted"):
        raise ConfigError("durability may only be 'trusted'")
    return RedisUrl(
        cluster=scheme == "redis+cluster",
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=db,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=scheme == "rediss",
        shards=shards,
        trust_durability=trust == "trusted",
    )


def connect(url: RedisUrl, timeout_s: float) -> Client:
    """A client that fails within about `timeout_s` when Redis is away: explicit socket
    and connect timeouts, no silent retries (the API answers 503 and the caller retries;
    a retry here would only multiply the wait of a request that is already late)."""
    common: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "username": url.username,
        "password": url.password,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": _HEALTH_CHECK_S,
    }
    if url.cluster:
        return RedisCluster(
            **common,
            ssl=url.ssl,
            # per node; the cluster client fails at once (MaxConnectionsError) instead
            # of waiting for a free connection, so its bound is wider than the pool's
            max_connections=_MAX_CLUSTER_CONNECTIONS,
            # one more try after a connection/cluster error, with the slot map refreshed
            # (a failover); more would keep a request hanging on a cluster that is down
            retry=Retry(NoBackoff(), 1),
            # (RedisCluster takes no connection_class: its nodes pack in Python)
        )
    pool = BlockingConnectionPool(
        **common,
        db=url.db,
        max_connections=_MAX_CONNECTIONS,
        timeout=timeout_s,  # waiting for a free pooled connection
        retry=Retry(NoBackoff(), 0),
        connection_class=_ssl_connection_class() if url.ssl else _FastConnection,
    )
    return Redis(connection_pool=pool)


def _ssl_connection_class() -> type[Any]:
    return _FastSSLConnection


def _pack_fast(args: tuple[Any, ...]) -> list[bytes] | None:
    """The command in RESP, packed by hiredis (C), or None where redis-py's own packer
    must decide (floats, which it formats differently; anything but str/bytes/int).

    redis-py's asyncio connection packs in Python, argument by argument; for the long
    argument lists of the bulk scripts that was a fifth of the batch-ingest CPU time."""
    if _hiredis is None:
        return None
    first = args[0]
    if isinstance(first, str) and " " in first:
        args = (*first.encode().split(), *args[1:])
    elif isinstance(first, bytes) and b" " in first:
        args = (*first.split(), *args[1:])
    if not _PACKABLE.issuperset(map(type, args)):
        return None
    return [_hiredis.pack_command(args)]


_PACKABLE = frozenset({bytes, str, int})


class _FastConnection(_AsyncConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        return _pack_fast(args) or super().pack_command(*args)


class _FastSSLConnection(_AsyncSSLConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        return _pack_fast(args) or super().pack_command(*args)


async def unavailable(awaitable: Awaitable[T]) -> T:
    """Await a redis-py call; any Redis error (connection refused, timeout, cluster down,
    OOM, LOADING, READONLY after a failover, ...) becomes `StoreUnavailable`."""
    try:
        return await awaitable
    except RedisError as exc:
        raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:  # socket errors redis-py did not wrap
        raise StoreUnavailable(f"Redis store unavailable: {exc}") from exc


@asynccontextmanager
async def guarded() -> AsyncIterator[None]:
    """`unavailable` for a block (async iteration, pipelines)."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"Redis store unavailable: {exc}") from exc


class ScriptRunner(Protocol):
    """What the store runs its Lua scripts with: `Scripts` (redis-py, any deployment) or
    `redis_mux.MuxScripts` (a single node, multiplexed)."""

    async def run(self, name: str, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Any:
        """EVALSHA of the script `name`; error replies become `StoreUnavailable`."""
        ...

    def close(self) -> None:
        """Drop the runner's own connections, if it has any."""
        ...


class Scripts:
    """The Lua scripts, registered once per client (EVALSHA, loaded again on NOSCRIPT)."""

    def __init__(self, client: Client, sources: dict[str, str]) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(source) for name, source in sources.items()
        }

    async def run(self, name: str, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Any:
        return await unavailable(self._scripts[name](keys=list(keys), args=list(args)))

    def close(self) -> None:
        """Nothing of its own: the connections are the client's."""


def default_shards(url: RedisUrl) -> int:
    return url.shards or DEFAULT_SHARDS


def as_bytes(value: bytes | str) -> bytes:
    """Replies are bytes (no decode_responses); the stubs also allow str."""
    return value if isinstance(value, bytes) else value.encode("utf-8")
