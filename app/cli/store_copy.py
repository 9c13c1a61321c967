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
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.service import verify_audit
from app.cli.errors import UserError
from app.config import load_settings
from app.domain.ports import Store
from app.errors import ConfigError
from app.keys.audit import public_keys, read_entries
from app.storage import copier_for, open_store, redact_url

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
    c.add_argument(
        "src",
        help="source store URL: sqlite:///relative/path, sqlite:////absolute/path (it must "
        "exist), redis://host:port/db or redis+cluster://host:port",
    )
    c.add_argument(
        "dst",
        help="destination store URL; a Redis destination gets the source's shard count "
        "(1 from SQLite) unless the URL says ?shards=N",
    )
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _check_source(args.src)
    created = _sqlite_path(args.dst)
    if created is not None and created.exists():
        created = None  # not ours to remove: an existing file, refused later if not empty
    made_dirs = _missing_parents(created) if created is not None else []
    ok = False
    try:
        counts = asyncio.run(copy_store(args.src, args.dst, out=sys.stderr))
        ok = all(read == written for read, written in counts.values())
    finally:
        if not ok and created is not None and _remove_database(created, made_dirs):
            print(f"the copy failed: {created}, which it had created, was removed", file=sys.stderr)
    return 0 if ok else 1


def _sqlite_path(url: str) -> Path | None:
    if not url.lower().startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].partition("?")[0]
    return Path(path) if path else None


def _check_source(url: str) -> None:
    """A SQLite source must exist: opening one creates it, and a mistyped path would then
    "copy" an empty store and succeed."""
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        raise UserError(f"there is no SQLite database at {path}: check the source URL {url}")


def _missing_parents(path: Path) -> list[Path]:
    """The folders `open_store` will create for `path`, outermost last."""
    missing = []
    parent = path.absolute().parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return missing


def _remove_database(path: Path, made_dirs: list[Path]) -> bool:
    """Remove a destination database this copy created, with its WAL and shared-memory
    files and the folders made for it: a failed copy leaves nothing behind. Whether there
    was a database to remove."""
    existed = path.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for folder in made_dirs:
        with contextlib.suppress(OSError):  # not empty: something else is in it now
            folder.rmdir()
    return existed


class Progress:
    """Progress of each kind of record on stderr: count, total and percentage and ETA
    where the source can count, and the rate.

    On a terminal one line is rewritten in place a few times a second. Anywhere else
    (a log file, CI, `2> copy.log`) carriage returns would pile up into one unreadable
    line, so there each update is a line of its own, every `every_s` seconds.
    """

    def __init__(self, out: object, *, tty: bool | None = None, every_s: float = 5.0) -> None:
        self._out = out
        if tty is None:
            isatty = getattr(out, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self._tty = tty
        self._every_s = 0.2 if tty else every_s
        self._start = time.monotonic()
        self._last = 0.0

    def show(self, kind: str, count: int, total: int | None = None, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self._every_s:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = count / elapsed
        line = f"  {kind:<15} {count:>12,}"
        if total is not None:
            line += f" of {total:>12,} {min(count / total, 1.0) if total else 1.0:>6.1%}"
            if not final and rate > 0:
                line += f"  ETA {_duration(max(total - count, 0) / rate)}"
        line += f"  {rate:>10,.0f}/s"
        write = getattr(self._out, "write", None)
        if write is None:
            return
        if self._tty:
            write("\r" + line + "\x1b[K" + ("\n" if final else ""))
        else:
            write(line + "\n")

    def restart(self) -> None:
        self._start = time.monotonic()
        self._last = 0.0


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


async def _pump(
    kind: str,
    source: AsyncIterator[T],
    put: Callable[[Sequence[T]], Awaitable[None]],
    progress: Progress,
    totals: dict[str, int],
) -> tuple[int, int]:
    """Copy in batches; (read, written)."""
    read = written = 0
    total = totals.get(kind)
    batch: list[T] = []
    progress.restart()
    async for item in source:
        batch.append(item)
        read += 1
        if len(batch) >= _BATCH:
            await put(batch)
            written += len(batch)
            batch = []
            progress.show(kind, written, total)
    if batch:
        await put(batch)
        written += len(batch)
    progress.show(kind, written, total, final=True)
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
            totals = await source.totals()
            counts: dict[str, tuple[int, int]] = {}
            counts["clients"] = await _pump(
                "clients", source.iter_clients(), target.put_clients, progress, totals
            )
            list_ids = await source.list_ids()
            await target.put_lists(list_ids)
            counts["status lists"] = (len(list_ids), len(await dst.status_list_ids()))
            counts["status entries"] = await _pump(
                "status entries", source.iter_status(), target.put_status, progress, totals
            )
            counts["entitlements"] = await _pump(
                "entitlements",
                source.iter_entitlements(),
                target.put_entitlements,
                progress,
                totals,
            )
            counts["cards"] = await _pump(
                "cards", source.iter_cards(), target.put_cards, progress, totals
            )
            counts["proofs"] = await _pump(
                "proofs", source.iter_proofs(), target.put_proofs, progress, totals
            )
            dropped = await src.dropped_checkpoints()
            await target.put_archive_marks(await src.audit_archived(), dropped)
            counts["audit"] = await _pump(
                "audit", source.iter_audit(), target.put_audit, progress, totals
            )
            notes = await src.checkpoints()
            for n, note in enumerate(notes, dropped[0]):
                await dst.add_checkpoint(note, n)
            keys = audit_keys if audit_keys is not None else _audit_keys()
            src_report = await verify_audit(src, keys)
            dst_report = await verify_audit(dst, keys)
            ok = dst_report.ok and dst_report.chains == src_report.chains
            counts["audit verified"] = (src_report.records, dst_report.records if ok else -1)
            say("verification (read -> written):\n")
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
