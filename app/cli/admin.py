"""Operator commands: clients, keys, audit, development tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from app.citizens import mint_dev_token
from app.config import Settings, load_settings
from app.domain import clients as client_ops
from app.domain.audit import export_audit, verify_audit
from app.domain.ports import Store
from app.domain.records import AuditEvent, ClientRecord
from app.domain.registry import load_registry
from app.keyring import ensure_keys, generate_key, list_keys, retire_key, rotate_key
from app.storage import open_store

T = TypeVar("T")
if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def with_store(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await open_store(settings.store_url, timeout_s=settings.store_timeout_s)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(go())


def now() -> datetime:
    return datetime.now(UTC)


# -- clients ------------------------------------------------------------------------
def add_clients(sub: Sub) -> None:
    p = sub.add_parser("clients", help="API clients: authentic sources and verifiers")
    s = p.add_subparsers(dest="action", required=True)
    add = s.add_parser("add", help="create a client and print its API key once")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=client_ops.ROLES)
    add.add_argument("--types", required=True, help="comma-separated entitlement types")
    add.add_argument("--label", help="who holds this key, e.g. 'Counter 1' (shown on the device)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=clients_add)
    key = s.add_parser(
        "add-key",
        help="one more key for the same organisation (a counter, an officer), revoked on its own",
        description="The new key gets its own client id, so `clients revoke` withdraws it "
        "alone; it keeps the organisation's name, role and types, and checks with any of "
        "the organisation's keys count as one organisation in `seen`.",
    )
    key.add_argument("client_id", help="any active client id of the organisation")
    key.add_argument("--label", help="who holds this key, e.g. 'Counter 2', 'Officer 4711'")
    key.add_argument("--json", action="store_true")
    key.set_defaults(func=clients_add_key)
    ls = s.add_parser("list", help="list clients (never their keys)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=clients_list)
    rv = s.add_parser("revoke", help="revoke a client's API key")
    rv.add_argument("client_id")
    rv.set_defaults(func=clients_revoke)


def _print_new_key(client: ClientRecord, key: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**_client_json(client), "api_key": key}))
        return
    held = f", {client.label}" if client.label else ""
    print(f"client {client.id} ({client.role}: {', '.join(client.types)}{held})")
    if client.org:
        print(f"organisation {client.org} ({client.name})")
    print(f"API key (shown once, store it now): {key}")


def _client_json(c: ClientRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "role": c.role,
        "types": list(c.types),
        "org": c.org_id,
        "label": c.label,
    }


def clients_add(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = load_registry(settings.registry)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    client, key = with_store(
        settings,
        lambda st: client_ops.create_client(
            st, registry, name=args.name, role=args.role, types=types, now=now(), label=args.label
        ),
    )
    _print_new_key(client, key, args.json)
    return 0


def clients_add_key(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = load_registry(settings.registry)
    client, key = with_store(
        settings,
        lambda st: client_ops.add_credential(
            st, registry, args.client_id, label=args.label, now=now()
        ),
    )
    _print_new_key(client, key, args.json)
    return 0


def clients_list(args: argparse.Namespace) -> int:
    rows = with_store(load_settings(), lambda st: st.list_clients())
    if args.json:
        print(
            json.dumps(
                [
                    {
                        **_client_json(c),
                        "created_at": c.created_at.isoformat(),
                        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
                    }
                    for c in rows
                ]
            )
        )
        return 0
    for c in rows:
        state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
        org = f" (org {c.org})" if c.org else ""
        label = f" — {c.label}" if c.label else ""
        print(f"{c.id}  {c.role:8}  {state:18}  {c.name}{label}{org}  [{', '.join(c.types)}]")
    return 0


def clients_revoke(args: argparse.Namespace) -> int:
    with_store(load_settings(), lambda st: client_ops.revoke_client(st, args.client_id, now()))
    print(f"revoked {args.client_id}")
    return 0


# -- keys ---------------------------------------------------------------------------
def add_keys(sub: Sub) -> None:
    p = sub.add_parser("keys", help="signing keys under STATUSPASS_KEYS_DIR")
    s = p.add_subparsers(dest="action", required=True)
    g = s.add_parser("generate", help="create the first signing key")
    g.add_argument("--alg", choices=["ES256", "EdDSA"], default="ES256")
    g.set_defaults(func=keys_generate)
    r = s.add_parser("rotate", help="a new key signs from now on")
    r.add_argument("--alg", choices=["ES256", "EdDSA"])
    r.set_defaults(func=keys_rotate)
    s.add_parser("list", help="keys and their state").set_defaults(func=keys_list)
    t = s.add_parser("retire", help="withdraw a retired key from the JWKS now")
    t.add_argument("kid")
    t.set_defaults(func=keys_retire)


def _audit_key_op(settings: Settings, action: str, kid: str) -> None:
    async def go(st: Store) -> None:
        await st.append_audit(
            AuditEvent(at=now(), actor="operator", action=action, result="ok", reason=f"kid={kid}")
        )

    with_store(settings, go)


def keys_generate(args: argparse.Namespace) -> int:
    s = load_settings()
    entry = generate_key(s.keys_dir, alg=args.alg, passphrase=s.keys_passphrase)
    _audit_key_op(s, "key_generate", entry.kid)
    print(f"generated {entry.alg} key {entry.kid} in {s.keys_dir}")
    return 0


def keys_rotate(args: argparse.Namespace) -> int:
    s = load_settings()
    registry = load_registry(s.registry)
    entry = rotate_key(
        s.keys_dir,
        max_token_lifetime_s=registry.max_lifetime_s,
        alg=args.alg,
        passphrase=s.keys_passphrase,
    )
    _audit_key_op(s, "key_rotate", entry.kid)
    print(f"rotated: {entry.kid} signs from now on; running workers pick it up within seconds")
    return 0


def keys_list(args: argparse.Namespace) -> int:
    s = load_settings()
    for e in list_keys(s.keys_dir):
        until = f" published until {e.publish_until:%Y-%m-%d %H:%M}" if e.publish_until else ""
        print(f"{e.kid}  {e.alg:6} {e.state:9} created {e.created_at:%Y-%m-%d %H:%M}{until}")
    return 0


def keys_retire(args: argparse.Namespace) -> int:
    s = load_settings()
    entry = retire_key(s.keys_dir, args.kid)
    _audit_key_op(s, "key_retire", entry.kid)
    print(f"{entry.kid} withdrawn: tokens it signed no longer verify")
    return 0


# -- audit --------------------------------------------------------------------------
def add_audit(sub: Sub) -> None:
    p = sub.add_parser("audit", help="the hash-chained audit log")
    s = p.add_subparsers(dest="action", required=True)
    s.add_parser("verify", help="prove the chain is unbroken").set_defaults(func=audit_verify)
    e = s.add_parser("export", help="write JSON lines")
    e.add_argument("--output", "-o", default="-")
    e.set_defaults(func=audit_export)


def audit_verify(args: argparse.Namespace) -> int:
    def progress(n: int) -> None:
        print(f"\r{n:,} records checked…", end="", file=sys.stderr, flush=True)

    report = with_store(load_settings(), lambda st: verify_audit(st, progress))
    print("", file=sys.stderr)
    if not report.ok:
        print(f"BROKEN after {report.records:,} records: {report.problem}")
        return 1
    print(f"OK: {report.records:,} records, chain unbroken")
    for chain, head in report.chains.items():
        print(f"  chain {chain}: head {head}")
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


# -- dev ----------------------------------------------------------------------------
def add_dev(sub: Sub) -> None:
    p = sub.add_parser("dev", help="development helpers (never in production)")
    s = p.add_subparsers(dest="action", required=True)
    t = s.add_parser("citizen-token", help="an ID token of the local development IdP")
    t.add_argument("nrn")
    t.add_argument("--lifetime", type=int, default=3600)
    t.set_defaults(func=dev_token)


def dev_token(args: argparse.Namespace) -> int:
    s = load_settings()
    if s.production:
        print(
            "refused: the development identity provider does not exist in production",
            file=sys.stderr,
        )
        return 2
    ensure_keys(s.keys_dir, production=False, passphrase=s.keys_passphrase)
    print(mint_dev_token(s, args.nrn, now(), args.lifetime))
    return 0
