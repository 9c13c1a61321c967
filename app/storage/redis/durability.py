"""Is this Redis configured so that an acknowledged write survives? Read at start-up.

What an acknowledged write (a script that returned) survives, by server setting:

    appendonly no            nothing: a restart loses every write since the last RDB
                             snapshot (if any). Refused in production.
    appendfsync always       a crash of redis-server AND of the host: Redis fsyncs the
                             AOF before it sends the replies of the commands it covers.
    appendfsync everysec     a crash of redis-server (the AOF write(2) happens before the
                             reply; the kernel keeps it), but a crash of the HOST (power,
                             kernel) can lose about the last second. Warned, not refused.
    appendfsync no           the OS flushes when it likes (~30 s). Refused in production.
    maxmemory-policy other   than noeviction: Redis may delete keys under memory
                             pressure, authoritative ones included (and rate counters,
                             which would lift limits). Refused in production.

WAITAOF (Redis >= 7.2) would let a client wait for the fsync of its own writes under
everysec; this store does not send it (the servers here are 7.0), so on every version the
guarantee is the one of the table above. The report says which version each node runs.

On a cluster every master is checked. A server with CONFIG disabled or renamed (managed
services) cannot be checked: that is a problem too, unless the store URL says
`durability=trusted` (the operator answers for the settings).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from app.domain.ports import Store
from app.errors import ConfigError
from app.storage.redis.conn import unavailable
from app.storage.redis.store import RedisStore

__all__ = ["DurabilityReport", "check_store_durability", "durability_report"]

_log = logging.getLogger("statuspass.store")
_SETTINGS = (
    "appendonly",
    "appendfsync",
    "maxmemory-policy",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
)
#: what docs/redis.conf sets, so that a bucket of entitlements or of the citizens'
#: index (`keys`) stays one listpack: below, a full bucket becomes a hash table, with
#: ~60-100 bytes more per field (the memory a holder takes nearly doubles)
_LISTPACK = {"hash-max-listpack-entries": 512, "hash-max-listpack-value": 1024}


@dataclass
class DurabilityReport:
    #: node -> setting -> value (None: could not be read)
    nodes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    #: settings that can lose or evict acknowledged writes: refuse in production
    problems: list[str] = field(default_factory=list)
    #: settings that could not be read (CONFIG disabled): problems unless trusted
    unknown: list[str] = field(default_factory=list)
    #: weaker guarantees worth knowing (everysec): logged, never refused
    notes: list[str] = field(default_factory=list)
    #: settings that make the store take more memory than it needs: logged
    memory: list[str] = field(default_factory=list)

    def refusals(self, *, trusted: bool) -> list[str]:
        return self.problems + ([] if trusted else self.unknown)


async def _node_settings(client: Any, **target: Any) -> dict[str, str | None]:
    values: dict[str, str | None] = dict.fromkeys(_SETTINGS)
    try:
        for name in _SETTINGS:
            got = await client.config_get(name, **target)
            for key, value in got.items():
                k = key.decode() if isinstance(key, bytes) else str(key)
                values[k] = value.decode() if isinstance(value, bytes) else str(value)
    except RedisError as exc:
        # CONFIG renamed/disabled answers "unknown command"; a connection error is not
        # "unknown settings" but an outage, so it goes up as StoreUnavailable
        if "unknown command" not in str(exc).lower() and "noperm" not in str(exc).lower():
            await unavailable(_raise(exc))
    info = await unavailable(client.info("server", **target))
    values["redis_version"] = str(info.get("redis_version"))
    return values


async def _raise(exc: BaseException) -> None:
    raise exc


def _judge(node: str, settings: dict[str, str | None], report: DurabilityReport) -> None:
    appendonly, fsync = settings["appendonly"], settings["appendfsync"]
    policy = settings["maxmemory-policy"]
    if appendonly is None or fsync is None or policy is None:
        report.unknown.append(
            f"{node}: persistence settings cannot be read (CONFIG unavailable): durability unknown"
        )
    if appendonly == "no":
        report.problems.append(
            f"{node}: appendonly is off: acknowledged writes are lost on restart"
        )
    elif fsync == "no":
        report.problems.append(
            f"{node}: appendfsync no: the OS decides when the AOF reaches the disk; a host "
            "crash loses acknowledged writes"
        )
    elif fsync == "everysec":
        report.notes.append(
            f"{node}: appendfsync everysec: a crash of the host (not of redis-server) can "
            "lose about the last second of acknowledged writes; appendfsync always closes "
            "that gap"
        )
    if policy is not None and policy != "noeviction":
        report.problems.append(f"{node}: maxmemory-policy {policy} can evict authoritative data")
    for name, wanted in _LISTPACK.items():
        value = settings.get(name)
        if value is not None and value.isdigit() and int(value) < wanted:
            report.memory.append(
                f"{node}: {name} {value} (docs/redis.conf: {wanted}): fuller buckets of"
                " entitlements and verification indexes become hash tables, nearly twice"
                " the memory a holder takes"
            )


async def durability_report(store: RedisStore) -> DurabilityReport:
    """Read and judge the persistence settings of the server (every master of a
    cluster). Raises StoreUnavailable if Redis cannot be reached."""
    report = DurabilityReport()
    client = store.client
    if isinstance(client, RedisCluster):
        await unavailable(client.initialize())
        for node in client.get_primaries():
            report.nodes[node.name] = await _node_settings(client, target_nodes=node)
    else:
        kwargs = client.connection_pool.connection_kwargs
        report.nodes[f"{kwargs.get('host')}:{kwargs.get('port')}"] = await _node_settings(client)
    for name, settings in report.nodes.items():
        _judge(name, settings, report)
    return report


async def check_store_durability(store: Store, *, production: bool) -> DurabilityReport | None:
    """Call once at service start-up, after `open_store`.

    Does nothing for a store that is not Redis (returns None). In production, raises
    ConfigError on any setting that can lose or evict acknowledged writes (or that
    cannot be read, unless the URL says durability=trusted); in development, logs them
    as warnings. Notes (everysec) are logged either way.

    Raises:
        ConfigError: production and unsafe settings.
        StoreUnavailable: Redis cannot be reached to read them.
    """
    if not isinstance(store, RedisStore):
        return None
    report = await durability_report(store)
    refusals = report.refusals(trusted=store.url.trust_durability)
    if refusals and production:
        raise ConfigError("unsafe Redis persistence settings: " + "; ".join(refusals))
    for message in refusals:
        _log.warning("redis durability: %s (would refuse to start in production)", message)
    for message in report.notes:
        _log.warning("redis durability: %s", message)
    for message in report.memory:
        _log.warning("redis memory: %s", message)
    return report
