"""`statuspass audit …`: verify, checkpoint, export, and the audit key."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.archive import ArchiveResult, archive_audit
from app.audit.checkpoints import CheckpointError, parse_verifier_key
from app.audit.service import AuditReport, export_audit, sign_checkpoint, verify_audit
from app.cli.admin import now, with_store
from app.config import load_settings
from app.domain.ports import Store
from app.domain.records import AuditEvent
from app.errors import ConfigError
from app.keys import audit_keys_for
from app.keys.audit import (
    load_audit_keys,
    public_keys,
    read_entries,
    rotate_audit_key,
)

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["add_audit"]

#: problem lines printed; past that, only how many more there are
_MAX_LINES = 200


def add_audit(sub: Sub) -> None:
    p = sub.add_parser("audit", help="the hash-chained audit log and its signed checkpoints")
    s = p.add_subparsers(dest="action", required=True)
    v = s.add_parser("verify", help="prove the log is whole, unchanged and what was signed")
    v.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint kept outside the store (repeatable)",
    )
    v.add_argument(
        "--audit-key",
        metavar="FILE",
        help="verifier keys (one per line, as /.well-known/statuspass-audit-key serves "
        "them) instead of those under STATUSPASS_KEYS_DIR",
    )
    v.add_argument(
        "--archive", metavar="DIR", help="archive segments to verify with the store, as one log"
    )
    v.set_defaults(func=audit_verify)
    a = s.add_parser("archive", help="move older records into compressed segment files")
    a.add_argument("--before", required=True, help="a date (YYYY-MM-DD, UTC) or ISO time")
    a.add_argument("--to", required=True, metavar="DIR", help="the archive folder")
    a.add_argument(
        "--nice",
        type=int,
        default=ARCHIVE_NICE,
        metavar="N",
        help="run at this much lower CPU priority, so the service on the same machine keeps "
        f"its answer times (default {ARCHIVE_NICE}; 0: normal priority)",
    )
    a.set_defaults(func=audit_archive)
    c = s.add_parser("checkpoint", help="print the latest signed checkpoint")
    c.add_argument("--sign", action="store_true", help="sign a new one now, then print it")
    c.set_defaults(func=audit_checkpoint)
    e = s.add_parser("export", help="write JSON lines")
    e.add_argument(
        "--output", "-o", default="-", metavar="FILE", help="where to write (default: stdout)"
    )
    e.set_defaults(func=audit_export)
    r = s.add_parser("rotate-key", help="a new audit key signs checkpoints from now on")
    r.add_argument("--name", help="the log's origin (default: the current key's name)")
    r.set_defaults(func=audit_rotate_key)
    k = s.add_parser("public-key", help="print the audit verifier keys")
    k.set_defaults(func=audit_public_key)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _verifier_keys(
    args: argparse.Namespace, keys_dir: str
) -> dict[tuple[str, bytes], Ed25519PublicKey]:
    if args.audit_key:
        keys = {}
        for line in _read(args.audit_key).decode("utf-8", "replace").splitlines():
            if line.strip():
                try:
                    name, ident, public = parse_verifier_key(line.strip())
                except CheckpointError as exc:
                    raise ConfigError(f"{args.audit_key}: {exc}") from None
                keys[(name, ident)] = public
        return keys
    return public_keys(read_entries(keys_dir))


def audit_verify(args: argparse.Namespace) -> int:
    settings = load_settings()
    keys = _verifier_keys(args, settings.keys_dir)
    external = [(path, _read(path)) for path in args.checkpoint]
    archive = None
    if args.archive:
        archive = Path(args.archive)
        if not archive.is_dir():
            raise ConfigError(f"no archive folder {archive}")

    def progress(n: int) -> None:
        print(f"\r{n:,} records checked…", end="", file=sys.stderr, flush=True)

    async def go(st: Store) -> AuditReport:
        return await verify_audit(
            st,
            keys,
            external=external,
            archive=archive,
            progress=progress,
        )

    report = with_store(settings, go)
    if report.records >= 100_000:
        print("", file=sys.stderr)
    signed = _signed(report)
    legacy = f", {report.legacy:,} of them hashed the old way" if report.legacy else ""
    if report.unchecked:
        legacy += f", {report.unchecked:,} archived ones not read (use --archive DIR)"
    if not report.ok:
        print(f"BROKEN: {len(report.problems):,} problem(s) in {report.records:,} records{signed}")
        for line in report.problems[:_MAX_LINES]:
            print(line)
        if len(report.problems) > _MAX_LINES:
            print(f"… and {len(report.problems) - _MAX_LINES:,} more problems")
        return 1
    chains = len(report.chains)
    print(f"OK: {report.records:,} records in {chains} chain(s){legacy}{signed}")
    return 0


def _signed(report: AuditReport) -> str:
    """What the checkpoints proved, for the summary line."""
    latest = report.latest
    if latest is None:
        return "; no checkpoint: a cut tail or a rewrite could not be seen"
    held = (
        f" ({report.archived_checkpoints:,} of them in the archive)"
        if report.archived_checkpoints
        else ""
    )
    if report.unchecked_checkpoints:
        held += f", {report.unchecked_checkpoints:,} archived ones not read"
    return (
        f"; {report.checkpoints:,} checkpoint(s) verified{held}, the latest of "
        f"{latest.time:%Y-%m-%d %H:%M:%SZ} covering {latest.size:,} records"
    )


@contextmanager
def _lowered_priority(by: int) -> Iterator[None]:
    """Lower the CPU priority of this thread and of the threads it starts meanwhile (file
    writing, compression), not of those running already: the SQLite store's own thread,
    opened before, keeps its priority, because it holds the store's write lock while it
    drops archived records, and a thread that waits for CPU time while holding it holds
    up the service's writes too. Back to what it was afterwards where the system allows
    it (raising a priority takes privileges). Elsewhere than on Linux, where a priority
    belongs to the process, nothing changes."""
    if not by or sys.platform != "linux":
        yield
        return
    me = threading.get_native_id()
    was = os.getpriority(os.PRIO_PROCESS, me)
    os.setpriority(os.PRIO_PROCESS, me, min(19, was + by))
    try:
        yield
    finally:
        with suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, me, was)


def _parse_before(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--before {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


#: the archive's CPU priority below the service's (`nice`): on a machine the service
#: shares, reading and compressing a run of records otherwise takes CPU time the service
#: needs for its answers (`bench/archive_latency.py`)
ARCHIVE_NICE = 10


def audit_archive(args: argparse.Namespace) -> int:
    if args.nice < 0:
        raise ConfigError("--nice must be 0 or more (an archive run never outranks the service)")
    settings = load_settings()
    before = _parse_before(args.before)
    keys = audit_keys_for(settings)

    async def go(st: Store) -> ArchiveResult:
        with _lowered_priority(args.nice):
            return await archive_audit(
                st, Path(args.to), before, signer=(keys.name, keys.private), now=now()
            )

    result = with_store(settings, go)
    if result.resumed:
        print(f"finished the drops of an interrupted run on {result.resumed} chain(s)")
    if result.segment is None:
        print(f"nothing older than {before:%Y-%m-%d %H:%M:%SZ} left to archive")
    else:
        per = result.bytes / max(result.records, 1)
        print(
            f"archived {result.records:,} records of {result.chains} chain(s) into "
            f"{result.written} in {args.to} ({result.bytes:,} bytes, {per:.0f} per record)"
        )
    if result.checkpoints:
        print(f"dropped {result.checkpoints:,} signed checkpoint(s) from the store (archived)")
    return 0


def audit_checkpoint(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def go(st: Store) -> bytes | None:
        if args.sign:
            keys = audit_keys_for(settings)
            await sign_checkpoint(st, keys.name, keys.private, now(), force=True)
        return (await st.latest_checkpoint())[1]

    note = with_store(settings, go)
    if note is None:
        print("no checkpoint signed yet (`statuspass audit checkpoint --sign`)", file=sys.stderr)
        return 1
    sys.stdout.write(note.decode("utf-8"))
    return 0


def audit_export(args: argparse.Namespace) -> int:
    out: Any = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    try:
        count = with_store(load_settings(), lambda st: export_audit(st, out.write))
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    print(f"exported {count:,} records", file=sys.stderr)
    return 0


def audit_rotate_key(args: argparse.Namespace) -> int:
    s = load_settings()
    name = args.name
    if name is None and not read_entries(s.keys_dir):
        name = s.audit_log_origin
    entry = rotate_audit_key(s.keys_dir, name=name, passphrase=s.keys_passphrase)
    load_audit_keys(s.keys_dir, s.keys_passphrase)  # what was written loads

    async def go(st: Store) -> None:
        event = AuditEvent(
            at=now(), actor="operator", action="audit_key_rotate", reason=f"kid={entry.key_id}"
        )
        await st.append_audit(event)

    with_store(s, go)
    print(f"audit key {entry.name}+{entry.key_id} signs checkpoints from now on")
    print(entry.verifier_key())
    return 0


def audit_public_key(args: argparse.Namespace) -> int:
    entries = read_entries(load_settings().keys_dir)
    if not entries:
        print("no audit key yet", file=sys.stderr)
        return 1
    for e in sorted(entries, key=lambda e: e.state != "active"):
        print(e.verifier_key())
    return 0
