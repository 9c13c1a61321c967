"""Operator commands: clients, keys, development tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from app.auth import mint_dev_token
from app.cli.errors import UserError
from app.config import DEFAULT_ISSUER, Settings, load_settings
from app.domain import clients as client_ops
from app.domain.ports import Store
from app.domain.records import AuditEvent, ClientRecord
from app.domain.registry import load_registry
from app.keys.audit import read_entries, rotate_audit_key
from app.keys.ring import ensure_keys, generate_key, list_keys, retire_key, rotate_key
from app.storage import open_store

T = TypeVar("T")
if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def with_store(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await open_store(
            settings.store_url, timeout_s=settings.store_timeout_s, production=settings.production
        )
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
    add.add_argument("--name", required=True, help="the organisation's name, shown to citizens")
    add.add_argument(
        "--role",
        required=True,
        choices=client_ops.ROLES,
        help="source: writes entitlements; verifier: checks proofs and cards",
    )
    add.add_argument(
        "--types",
        required=True,
        metavar="T1,T2",
        help="comma-separated entitlement types it may write or check (see "
        "/.well-known/statuspass)",
    )
    add.add_argument("--label", help="who holds this key, e.g. 'Counter 1' (shown on the device)")
    add.add_argument("--json", action="store_true", help="print the client and key as JSON")
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
    key.add_argument("--json", action="store_true", help="print the client and key as JSON")
    key.set_defaults(func=clients_add_key)
    ls = s.add_parser("list", help="list clients (never their keys)")
    ls.add_argument("--json", action="store_true", help="print the clients as JSON")
    ls.set_defaults(func=clients_list)
    rv = s.add_parser("revoke", help="revoke a client's API key")
    rv.add_argument("client_id", help="the client's id, as `clients list` shows it")
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
    width = max([len("ID"), *(len(c.id) for c in rows)])
    print(f"{'ID':<{width}}  {'ROLE':8}  {'STATE':18}  NAME  [TYPES]")
    if not rows:
        print("no clients yet: add one with `statuspass clients add`", file=sys.stderr)
    for c in rows:
        state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
        org = f" (org {c.org})" if c.org else ""
        label = f" — {c.label}" if c.label else ""
        name = f"{c.name}{label}{org}"
        print(f"{c.id:<{width}}  {c.role:8}  {state:18}  {name}  [{', '.join(c.types)}]")
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
    g.add_argument("--alg", choices=["ES256", "EdDSA"], default="ES256", help="signature algorithm")
    g.set_defaults(func=keys_generate)
    r = s.add_parser("rotate", help="a new key signs from now on")
    r.add_argument(
        "--alg", choices=["ES256", "EdDSA"], help="the new key's algorithm (default: the same)"
    )
    r.set_defaults(func=keys_rotate)
    s.add_parser("list", help="keys and their state").set_defaults(func=keys_list)
    t = s.add_parser("retire", help="withdraw a retired key from the JWKS now")
    t.add_argument("kid", help="the key's id, as `keys list` shows it")
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
    if not read_entries(s.keys_dir):  # a first set of keys includes the audit key
        audit = rotate_audit_key(s.keys_dir, name=s.audit_log_origin, passphrase=s.keys_passphrase)
        _audit_key_op(s, "audit_key_generate", audit.key_id)
        print(f"generated audit key {audit.name}+{audit.key_id} (signs audit checkpoints)")
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


# -- dev ----------------------------------------------------------------------------
def add_dev(sub: Sub) -> None:
    p = sub.add_parser("dev", help="development helpers (never in production)")
    s = p.add_subparsers(dest="action", required=True)
    t = s.add_parser("citizen-token", help="an ID token of the local development IdP")
    t.add_argument("nrn", help="the citizen's national register number (11 digits)")
    t.add_argument(
        "--lifetime",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="how long the token is valid, in seconds (default: 3600)",
    )
    t.add_argument(
        "--issuer",
        metavar="URL",
        help="the address of the service that will accept the token (default: "
        f"STATUSPASS_ISSUER, else {DEFAULT_ISSUER}; `serve --port N` is http://127.0.0.1:N)",
    )
    t.set_defaults(func=dev_token)


def dev_token(args: argparse.Namespace) -> int:
    s = load_settings()
    if s.production:
        print(
            "refused: the development identity provider does not exist in production",
            file=sys.stderr,
        )
        return 2
    if args.issuer:
        if not args.issuer.startswith(("http://", "https://")):
            raise UserError(f"--issuer takes an http(s) URL, not {args.issuer!r}")
        s = msgspec.structs.replace(s, issuer=args.issuer)
    ensure_keys(s.keys_dir, production=False, passphrase=s.keys_passphrase)
    print(mint_dev_token(s, args.nrn, now(), args.lifetime))
    return 0
