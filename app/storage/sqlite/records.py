"""SQLite operations on clients, entitlements, status lists and cards.

Plain synchronous functions taking the connection; `SqliteStore` runs them on its thread.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import msgspec

from app.domain.ports import STATUS_LIST_SIZE
from app.domain.records import (
    INVALID,
    AuditEvent,
    CardRecord,
    ClientRecord,
    Entitlement,
    EntitlementWrite,
    StatusRef,
)
from app.errors import VersionConflict
from app.storage._common import canonical_list_id, pack_status_list
from app.storage._lean import decode_card, decode_entitlement, encode_card, encode_entitlement
from app.storage.sqlite.audit import append_audit_tx
from app.storage.sqlite.tx import immediate

__all__ = [
    "add_client",
    "allocate_status_ref",
    "allocate_status_refs",
    "get_cards",
    "get_client",
    "get_client_by_key_hash",
    "get_entitlement",
    "get_entitlements",
    "get_status",
    "list_clients",
    "list_entitlements",
    "read_status_tx",
    "revoke_client",
    "save_entitlement",
    "save_entitlements",
    "status_list_bytes",
    "status_list_ids",
]

#: a list takes new indices until half of it is allocated; see `allocate_status_ref`
_FILL_LIMIT = STATUS_LIST_SIZE // 2
#: SQLite's default limit on bound parameters is 32766 (999 before 3.32); stay far below
_IN_CHUNK = 500

_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(ClientRecord)


# -- clients ----------------------------------------------------------------------------
def add_client(conn: sqlite3.Connection, client: ClientRecord, audit: AuditEvent) -> None:
    """Insert a client; `VersionConflict` if its id or key hash is already stored."""
    with immediate(conn):
        try:
            conn.execute(
                "INSERT INTO clients (id, key_hash, data) VALUES (?, ?, ?)",
                (client.id, client.key_hash, _encoder.encode(client)),
            )
        except sqlite3.IntegrityError as exc:
            raise VersionConflict(f"client {client.id!r} or its key already exists") from exc
        append_audit_tx(conn, audit)


def get_client_by_key_hash(conn: sqlite3.Connection, key_hash: str) -> ClientRecord | None:
    row = conn.execute("SELECT data FROM clients WHERE key_hash = ?", (key_hash,)).fetchone()
    return _client_decoder.decode(row[0]) if row else None


def get_client(conn: sqlite3.Connection, client_id: str) -> ClientRecord | None:
    row = conn.execute("SELECT data FROM clients WHERE id = ?", (client_id,)).fetchone()
    return _client_decoder.decode(row[0]) if row else None


def list_clients(conn: sqlite3.Connection) -> list[ClientRecord]:
    """Every client, oldest first."""
    rows = conn.execute("SELECT data FROM clients").fetchall()
    clients = [_client_decoder.decode(data) for (data,) in rows]
    return sorted(clients, key=lambda c: (c.created_at, c.id))


def revoke_client(
    conn: sqlite3.Connection, client_id: str, at: datetime, audit: AuditEvent
) -> bool:
    """Set `revoked_at`; False (nothing written) if missing or already revoked."""
    with immediate(conn):
        row = conn.execute("SELECT data FROM clients WHERE id = ?", (client_id,)).fetchone()
        if row is None:
            return False
        client = _client_decoder.decode(row[0])
        if client.revoked_at is not None:
            return False
        revoked = msgspec.structs.replace(client, revoked_at=at)
        conn.execute(
            "UPDATE clients SET data = ? WHERE id = ?", (_encoder.encode(revoked), client_id)
        )
        append_audit_tx(conn, audit)
        return True


# -- status lists -----------------------------------------------------------------------
def allocate_status_ref(conn: sqlite3.Connection) -> StatusRef:
    """Reserve a uniformly random, never-used index of the current list.

    Random, not sequential, so an index says nothing about when or in which order an
    entitlement was granted. Random probing is retried on collision; the list is left once
    it is half full, so a probe collides with probability at most 1/2 and the expected
    number of probes stays below 2 (filling it to the brim would cost ~2**20 probes for
    the last indices). The unused half costs only 128 KiB per published list.
    """
    with immediate(conn):
        return allocate_tx(conn)


def allocate_status_refs(conn: sqlite3.Connection, count: int) -> list[StatusRef]:
    """`count` allocations in one transaction."""
    with immediate(conn):
        return [allocate_tx(conn) for _ in range(count)]


def allocate_tx(conn: sqlite3.Connection) -> StatusRef:
    """One allocation inside the caller's write transaction."""
    row = conn.execute("SELECT id, allocated FROM status_lists ORDER BY id DESC LIMIT 1").fetchone()
    if row is None or int(row[1]) >= _FILL_LIMIT:
        list_id = int(row[0]) + 1 if row else 1
        conn.execute("INSERT INTO status_lists (id, allocated) VALUES (?, 0)", (list_id,))
    else:
        list_id = int(row[0])
    while True:
        # secrets, not random: indices must not be predictable from earlier ones
        idx = secrets.randbelow(STATUS_LIST_SIZE)
        cur = conn.execute(
            "INSERT OR IGNORE INTO status_entries (list_id, idx, status) VALUES (?, ?, 0)",
            (list_id, idx),
        )
        if cur.rowcount == 1:
            break
    conn.execute("UPDATE status_lists SET allocated = allocated + 1 WHERE id = ?", (list_id,))
    return StatusRef(str(list_id), idx)


def read_status_tx(conn: sqlite3.Connection, ref: StatusRef) -> int:
    """The status at `ref`; INVALID for an index we never handed out.

    A token pointing at an index that was never allocated was not issued by us as it
    claims, so it must not read as valid (an unallocated entry is 0 in the packed list,
    but an online check knows better).
    """
    list_id = canonical_list_id(ref.list_id)
    if list_id is None or not 0 <= ref.idx < STATUS_LIST_SIZE:
        return INVALID
    row = conn.execute(
        "SELECT status FROM status_entries WHERE list_id = ? AND idx = ?", (list_id, ref.idx)
    ).fetchone()
    return int(row[0]) if row else INVALID


def get_status(conn: sqlite3.Connection, ref: StatusRef) -> int:
    return read_status_tx(conn, ref)


def _set_status_tx(conn: sqlite3.Connection, ref: StatusRef, status: int) -> None:
    list_id = canonical_list_id(ref.list_id)
    if list_id is None or not 0 <= ref.idx < STATUS_LIST_SIZE:
        raise ValueError(f"not a status reference of this store: {ref!r}")
    if not 0 <= status <= 3:
        raise ValueError(f"a status is 2 bits, got {status}")
    cur = conn.execute(
        "UPDATE status_entries SET status = ? WHERE list_id = ? AND idx = ?",
        (status, list_id, ref.idx),
    )
    if cur.rowcount == 0:
        # not allocated through us (e.g. restored from elsewhere): record it as allocated
        # so it is never handed out again
        conn.execute("INSERT OR IGNORE INTO status_lists (id, allocated) VALUES (?, 0)", (list_id,))
        conn.execute(
            "INSERT INTO status_entries (list_id, idx, status) VALUES (?, ?, ?)",
            (list_id, ref.idx, status),
        )
        conn.execute("UPDATE status_lists SET allocated = allocated + 1 WHERE id = ?", (list_id,))


def status_list_ids(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT id FROM status_lists ORDER BY id").fetchall()
    return [str(list_id) for (list_id,) in rows]


def status_list_bytes(conn: sqlite3.Connection, list_id: str) -> bytes | None:
    """The packed list, built from its non-zero entries only (partial index)."""
    number = canonical_list_id(list_id)
    if number is None:
        return None
    if conn.execute("SELECT 1 FROM status_lists WHERE id = ?", (number,)).fetchone() is None:
        return None
    rows = conn.execute(
        "SELECT idx, status FROM status_entries WHERE list_id = ? AND status <> 0", (number,)
    )
    return pack_status_list(rows)


# -- entitlements and cards -------------------------------------------------------------
def get_entitlement(conn: sqlite3.Connection, type_id: str, subject: str) -> Entitlement | None:
    row = conn.execute(
        "SELECT data FROM entitlements WHERE type = ? AND subject = ?", (type_id, subject)
    ).fetchone()
    return decode_entitlement(row[0]) if row else None


def list_entitlements(conn: sqlite3.Connection, subject: str) -> list[Entitlement]:
    """Every entitlement of `subject`, ordered by type."""
    rows = conn.execute(
        "SELECT data FROM entitlements WHERE subject = ? ORDER BY type", (subject,)
    ).fetchall()
    return [decode_entitlement(data) for (data,) in rows]


def save_entitlement(conn: sqlite3.Connection, write: EntitlementWrite) -> None:
    """The whole write in one transaction; `VersionConflict` rolls all of it back."""
    with immediate(conn):
        if not _save_tx(conn, write):
            raise VersionConflict(
                f"entitlement {write.ent.type!r}: expected version "
                f"{write.expected_version} is not the stored one"
            )


def save_entitlements(conn: sqlite3.Connection, writes: Sequence[EntitlementWrite]) -> list[bool]:
    """Many writes in one transaction (one commit for a whole batch chunk); a write whose
    version does not match is skipped and reported False, the others applied."""
    with immediate(conn):
        return [_save_tx(conn, w) for w in writes]


def get_entitlements(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
) -> list[Entitlement | None]:
    return [get_entitlement(conn, type_id, subject) for type_id, subject in keys]


def _save_tx(conn: sqlite3.Connection, write: EntitlementWrite) -> bool:
    ent = write.ent
    row = conn.execute(
        "SELECT version FROM entitlements WHERE type = ? AND subject = ?",
        (ent.type, ent.subject),
    ).fetchone()
    stored = None if row is None else int(row[0])
    if stored != write.expected_version:
        return False
    conn.execute(
        "INSERT INTO entitlements (type, subject, version, data) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (type, subject) DO UPDATE"
        " SET version = excluded.version, data = excluded.data",
        (ent.type, ent.subject, ent.version, encode_entitlement(ent)),
    )
    # the entitlement's own status goes last: it wins over a contradicting update
    for ref, status in [*write.status_updates, (ent.status_ref, ent.status)]:
        _set_status_tx(conn, ref, status)
    for card in write.cards:
        # upserted even if another subject owned the number: ownership is the
        # domain's check, made before calling us
        conn.execute(
            "INSERT INTO cards (number, subject, data) VALUES (?, ?, ?)"
            " ON CONFLICT (number) DO UPDATE"
            " SET subject = excluded.subject, data = excluded.data",
            (card.number, card.subject, encode_card(card)),
        )
    append_audit_tx(conn, write.audit)
    return True


def get_cards(conn: sqlite3.Connection, numbers: Sequence[str]) -> list[CardRecord]:
    """The known cards among `numbers`, in the order asked, each once."""
    wanted = list(dict.fromkeys(numbers))
    found: dict[str, CardRecord] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT number, data FROM cards WHERE number IN ({marks})",  # noqa: S608
            chunk,
        ).fetchall()
        found.update((number, decode_card(data)) for number, data in rows)
    return [found[number] for number in wanted if number in found]
