"""API clients: authentic sources and verifier organisations, authenticated by API key.

A key is 256 random bits shown once; only its SHA-256 is stored. A plain (unsalted) hash
is enough here because the key is high-entropy random, not a password: no dictionary can
reach it, and a constant-time lookup by hash is what lets every request authenticate fast.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from datetime import datetime

from app.domain.ports import ClientStore
from app.domain.records import AuditEvent, ClientRecord
from app.domain.registry import Registry
from app.errors import Forbidden, InvalidInput, NotFound, Unauthenticated

__all__ = [
    "ROLES",
    "ClientDirectory",
    "add_credential",
    "create_client",
    "hash_api_key",
    "require_scope",
]

ROLES = ("source", "verifier")
KEY_PREFIX = "sp_"


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


async def create_client(
    store: ClientStore,
    registry: Registry,
    *,
    name: str,
    role: str,
    types: Sequence[str],
    now: datetime,
    label: str | None = None,
    org: str | None = None,
) -> tuple[ClientRecord, str]:
    """Create a client; return it with its API key (the only time the key exists)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a client needs a name of 1 to 200 characters", field="name")
    label = label.strip() if label else None
    if label is not None and len(label) > 100:
        raise InvalidInput("a label has at most 100 characters", field="label")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if not types:
        raise InvalidInput("a client needs at least one entitlement type", field="types")
    for t in types:
        registry.get(t)
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    client = ClientRecord(
        id="c_" + secrets.token_hex(8),
        name=name,
        role=role,
        types=tuple(dict.fromkeys(types)),
        key_hash=hash_api_key(api_key),
        created_at=now,
        org=org,
        label=label or None,
    )
    await store.add_client(
        client,
        AuditEvent(
            at=now,
            actor="operator",
            action="client_add",
            result="ok",
            reason=f"{role}:{','.join(client.types)}",
            org=name,
        ),
    )
    return client, api_key


async def add_credential(
    store: ClientStore, registry: Registry, client_id: str, *, label: str | None, now: datetime
) -> tuple[ClientRecord, str]:
    """A further credential of the organisation `client_id` belongs to: its own key and
    id (so it is revoked on its own), the organisation's name, role and types.

    Raises:
        NotFound: no active client `client_id`.
    """
    # an operator's command over a handful of clients: the listing will do
    parent = next((c for c in await store.list_clients() if c.id == client_id), None)
    if parent is None or parent.revoked_at is not None:
        raise NotFound(f"no active client {client_id!r}")
    return await create_client(
        store,
        registry,
        name=parent.name,
        role=parent.role,
        types=parent.types,
        now=now,
        label=label,
        org=parent.org_id,
    )


async def revoke_client(store: ClientStore, client_id: str, now: datetime) -> None:
    ok = await store.revoke_client(
        client_id, now, AuditEvent(at=now, actor="operator", action="client_revoke")
    )
    if not ok:
        raise NotFound(f"no active client {client_id!r}")


def require_scope(client: ClientRecord, role: str, type_id: str | None = None) -> None:
    """Raise Forbidden unless the client has the role (and the type in its scopes)."""
    if client.role != role:
        raise Forbidden(f"this operation needs a {role} client")
    if type_id is not None and type_id not in client.types:
        raise Forbidden(f"this client may not use entitlement type {type_id!r}")


class ClientDirectory:
    """Authenticates API keys, with a short in-process cache.

    The cache bounds how long a revoked key keeps working in a running worker
    (`ttl_s`, a few seconds) in exchange for one store round trip less per request.
    """

    def __init__(self, store: ClientStore, *, ttl_s: float = 5.0) -> None:
        self._store = store
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, ClientRecord | None]] = {}

    async def authenticate(self, api_key: str | None) -> ClientRecord:
        if not api_key or not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
            raise Unauthenticated("a valid API key is required (Authorization: Bearer …)")
        key_hash = hash_api_key(api_key)
        mono = time.monotonic()
        hit = self._cache.get(key_hash)
        if hit is not None and mono - hit[0] < self._ttl:
            client = hit[1]
        else:
            client = await self._store.get_client_by_key_hash(key_hash)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (mono, client)
        if client is None or client.revoked_at is not None:
            raise Unauthenticated("unknown or revoked API key")
        return client
