"""`statuspass store copy SRC_URL DST_URL`: move an installation between stores (SQLite
<-> Redis, Redis -> Redis Cluster, ...) with everything as it is: status refs (tokens in
the field point at them), versions, live proofs and codes, and the audit chains with
their hashes, so the log still verifies after the move.

Stop the service (or keep it read-only) while copying: records written to the source
after they were read are not copied. The destination must be empty.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.auditkeys import public_keys, read_entries
from app.config import load_settings
from app.domain.audit import verify_audit
from app.domain.ports import Store
from app.errors import ConfigError
from app.storage import open_store, redact_url
from app.storage._copy import Copier, SqliteCopier
from app.storage.sqlite import SqliteStore

__all__ = ["add_parser", "copy_store", "run"]

T = TypeVar("T")
_BATCH = 500


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("store", help="store maintenance")
    s = p.add_subparsers(dest="action", required=True)
    c = s.add_parser(
        "copy",
        help="copy every record from one store to another (the destination must be empty)",
    )
    c.add_argument("src", help="source store URL")
    c.add_argument(
        "dst",
        help="destination store URL; a Redis destination gets the source's shard count "
        "(1 from SQLite) unless the URL says ?shards=N",
    )
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    counts = asyncio.run(copy_store(args.src, args.dst, out=sys.stderr))
    bad = [kind for kind, (read, written) in counts.items() if read != written]
    return 1 if bad else 0


def copier_for(store: Store) -> Copier:
    if isinstance(store, SqliteStore):
        return SqliteCopier(store)
    from app.storage.redis_copy import RedisCopier
    from app.storage.redis_store import RedisStore

    if isinstance(store, RedisStore):
        return RedisCopier(store)
    raise ConfigError(f"cannot copy a {type(store).__name__}")


class Progress:
    """One line on stderr, rewritten in place: kind, count, rate."""

    def __init__(self, out: object) -> None:
        self._out = out
        self._start = time.monotonic()
        self._last = 0.0

    def show(self, kind: str, count: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        rate = count / max(now - self._start, 1e-9)
        line = f"\r  {kind:<13} {count:>10,} records  {rate:>10,.0f}/s"
        write = getattr(self._out, "write", None)
        if write is not None:
            write(line + ("\n" if final else ""))

    def restart(self) -> None:
        self._start = time.monotonic()


async def _pump(
    kind: str,
    source: AsyncIterator[T],
    put: Callable[[Sequence[T]], Awaitable[None]],
    progress: Progress,
) -> tuple[int, int]:
    """Copy in batches; (read, written)."""
    read = written = 0
    batch: list[T] = []
    progress.restart()
    async for item in source:
        batch.append(item)
        read += 1
        if len(batch) >= _BATCH:
            await put(batch)
            written += len(batch)
            batch = []
            progress.show(kind, written)
    if batch:
        await put(batch)
        written += len(batch)
    progress.show(kind, written, final=True)
    return read, written


async def _open_destination(dst_url: str, shards: int) -> Store:
    scheme = dst_url.partition("://")[0].lower()
    if scheme.startswith("redis") and "shards=" not in dst_url:
        dst_url += ("&" if "?" in dst_url else "?") + f"shards={shards}"
    return await open_store(dst_url)


def _audit_keys() -> dict[tuple[str, bytes], Ed25519PublicKey]:
    """The audit public keys under STATUSPASS_KEYS_DIR (none if it has none)."""
    return public_keys(read_entries(load_settings().keys_dir))


async def copy_store(
    src_url: str,
    dst_url: str,
    *,
    out: object,
    audit_keys: dict[tuple[str, bytes], Ed25519PublicKey] | None = None,
) -> dict[str, tuple[int, int]]:
    """Copy everything; returns kind -> (read, written), and 'audit verified' as (records
    verified on the destination, records read). The audit log's checkpoints go along and
    are verified with `audit_keys` (default: those under STATUSPASS_KEYS_DIR)."""
    src = await open_store(src_url)
    try:
        source = copier_for(src)
        dst = await _open_destination(dst_url, await source.shards())
        try:
            target = copier_for(dst)
            if not await target.is_empty():
                raise ConfigError(f"the destination {redact_url(dst_url)} is not empty")
            say = getattr(out, "write", lambda _s: None)
            say(f"copying {redact_url(src_url)} -> {redact_url(dst_url)}\n")
            progress = Progress(out)
            counts: dict[str, tuple[int, int]] = {}
            counts["clients"] = await _pump(
                "clients", source.iter_clients(), target.put_clients, progress
            )
            list_ids = await source.list_ids()
            await target.put_lists(list_ids)
            counts["status lists"] = (len(list_ids), len(await dst.status_list_ids()))
            counts["status entries"] = await _pump(
                "status entries", source.iter_status(), target.put_status, progress
            )
            counts["entitlements"] = await _pump(
                "entitlements", source.iter_entitlements(), target.put_entitlements, progress
            )
            counts["cards"] = await _pump("cards", source.iter_cards(), target.put_cards, progress)
            counts["proofs"] = await _pump(
                "proofs", source.iter_proofs(), target.put_proofs, progress
            )
            counts["audit"] = await _pump("audit", source.iter_audit(), target.put_audit, progress)
            notes = await src.checkpoints()
            for n, note in enumerate(notes):
                await dst.add_checkpoint(note, n)
            keys = audit_keys if audit_keys is not None else _audit_keys()
            src_report = await verify_audit(src, keys)
            dst_report = await verify_audit(dst, keys)
            ok = dst_report.ok and dst_report.chains == src_report.chains
            counts["audit verified"] = (src_report.records, dst_report.records if ok else -1)
            say("\nverification (read -> written):\n")
            for kind, (read, written) in counts.items():
                mark = "ok" if read == written else "MISMATCH"
                say(f"  {kind:<15} {read:>10,} -> {written:>10,}  {mark}\n")
            for problem in dst_report.problems[:20]:
                say(f"  audit log on the destination: {problem}\n")
            return counts
        finally:
            await dst.close()
    finally:
        await src.close()
