"""Stores behind `app.domain.ports.Store`, chosen by URL through the one factory, `open_store`.

sqlite:///relative/path.sqlite3      embedded default (add ?synchronous=full for
sqlite:////absolute/path.sqlite3     durability across power loss, see sqlite.db)
redis://host:port/db[?shards=16]     Redis (see app.storage.redis.store)
rediss://…                           the same over TLS
redis+cluster://host:port            Redis Cluster, from one seed node

This module is the only place that knows which backends exist: opening a store, its
start-up checks (`check_durability`) and its side of `statuspass store copy`
(`copier_for`) are asked here, never of a backend by name. The Redis package is
imported only for a Redis store, so an embedded installation never loads redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from app.domain.ports import Store
from app.errors import ConfigError
from app.storage.sqlite import SqliteStore
from app.storage.sqlite.db import Synchronous
from app.storage.sqlite.files import prepare_private_files

if TYPE_CHECKING:
    from app.storage.copy import Copier

__all__ = [
    "SqliteStore",
    "check_durability",
    "copier_for",
    "open_store",
    "redact_url",
]

_SQLITE_PREFIX = "sqlite:///"
_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "secret", "token"})


async def open_store(url: str, *, timeout_s: float = 2.0, production: bool = False) -> Store:
    """Open the store named by `url`.

    Args:
        url: `sqlite:///path` (relative to the working directory) or `sqlite:////path`
            (absolute); the parent directory is created (0700, the file 0600: see
            `sqlite.files`). `redis://host:port/db`, `rediss://…` or
            `redis+cluster://host:port` (see `redis.conn.parse_url`).
        timeout_s: how long an operation may wait on the store before `StoreUnavailable`.
        production: refuse, rather than warn about, SQLite files open to other users.

    Raises:
        ConfigError: unknown scheme, or a URL this store cannot use.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        path, synchronous = _parse_sqlite_url(url)
        prepare_private_files(path, production=production)
        return await SqliteStore.open(path, timeout_s=timeout_s, synchronous=synchronous)
    if scheme in ("redis", "rediss", "redis+cluster"):
        # imported here: an embedded installation never loads redis-py
        from app.storage.redis.store import RedisStore

        return await RedisStore.open(url, timeout_s=timeout_s)
    raise ConfigError(f"unknown store URL scheme in {redact_url(url)!r}")


async def check_durability(store: Store, *, production: bool) -> None:
    """Refuse (production) or warn (development) about server settings that can lose or
    evict acknowledged writes: a Redis store's persistence and eviction settings. The
    SQLite store checks its own file when it opens (`open_store`).

    Raises:
        ConfigError: production and unsafe settings.
        StoreUnavailable: the store cannot be reached to read them.
    """
    if isinstance(store, SqliteStore):
        return
    from app.storage.redis.durability import check_store_durability

    await check_store_durability(store, production=production)


def copier_for(store: Store) -> Copier:
    """The `store copy` adapter of an open store (`app.storage.copy`).

    Raises:
        ConfigError: a store of no backend known here.
    """
    # imported here: the service itself never copies
    from app.storage.copy import SqliteCopier

    if isinstance(store, SqliteStore):
        return SqliteCopier(store)
    from app.storage.redis.copy import RedisCopier
    from app.storage.redis.store import RedisStore

    if isinstance(store, RedisStore):
        return RedisCopier(store)
    raise ConfigError(f"cannot copy a {type(store).__name__}")


def _parse_sqlite_url(url: str) -> tuple[str, Synchronous]:
    if not url.startswith(_SQLITE_PREFIX):
        raise ConfigError(f"a SQLite store URL is sqlite:///path, got {redact_url(url)!r}")
    path, _, query = url[len(_SQLITE_PREFIX) :].partition("?")
    if not path or path.endswith("/"):
        raise ConfigError(f"no database file in {redact_url(url)!r}")
    params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    unknown = set(params) - {"synchronous"}
    if unknown:
        raise ConfigError(f"unknown SQLite store options: {', '.join(sorted(unknown))}")
    synchronous = params.get("synchronous", ["normal"])[-1].upper()
    if synchronous == "NORMAL":
        return path, "NORMAL"
    if synchronous == "FULL":
        return path, "FULL"
    raise ConfigError(f"synchronous must be normal or full, got {synchronous.lower()!r}")


def redact_url(url: str) -> str:
    """`url` with its password (and password-like query parameters) replaced by ***.

    For logs and error messages: `redis://user:s3cret@host:6379/0` becomes
    `redis://user:***@host:6379/0`.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        # unparseable (e.g. a bad port): show only the scheme rather than risk a secret
        return url.partition("://")[0] + "://***"
    head, sep, rest = url.partition("://")
    netloc = parts.netloc
    if password is not None and sep and rest.startswith(netloc):
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        # rebuilt by hand: urlunsplit drops the empty authority of sqlite:////abs/path
        rest = f"{user}:***@{hostinfo}" + rest[len(netloc) :]
    base, qmark, query = (head + sep + rest).partition("?")
    if not query:
        return base + qmark
    pairs = [pair.partition("=") for pair in query.split("&")]
    query = "&".join(
        f"{name}={'***' if name.lower() in _SECRET_PARAMS else value}" if eq else name
        for name, eq, value in pairs
    )
    return f"{base}?{query}"
