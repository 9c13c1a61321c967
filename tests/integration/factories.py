"""Small record factories for the store tests: fixed, timezone-aware times only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.records import (
    AuditEvent,
    CardRecord,
    ClientRecord,
    Entitlement,
    Holder,
    ProofRecord,
    StatusRef,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


def make_event(
    action: str = "grant",
    *,
    when: datetime = T0,
    actor: str = "src-1",
    subject: str | None = None,
    jti: str | None = None,
    org: str | None = None,
    result: str = "ok",
) -> AuditEvent:
    return AuditEvent(
        at=when,
        actor=actor,
        action=action,
        type="parking",
        jti=jti,
        result=result,
        subject=subject,
        org=org,
    )


def make_client(
    client_id: str = "cli-1", *, role: str = "source", key_hash: str | None = None
) -> ClientRecord:
    return ClientRecord(
        id=client_id,
        name=f"Client {client_id}",
        role=role,
        types=("parking",),
        key_hash=key_hash or f"hash-{client_id}",
        created_at=T0,
    )


def make_entitlement(
    ref: StatusRef,
    *,
    subject: str = "subj-a",
    type_id: str = "parking",
    status: int = 0,
    version: int = 1,
    when: datetime = T0,
) -> Entitlement:
    return Entitlement(
        type=type_id,
        subject=subject,
        holder=Holder(given_name="Ada", family_name="Lovelace"),
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
        attributes={"zone": "A"},
        status=status,
        status_ref=ref,
        reason=None if status == 0 else "test",
        version=version,
        updated_at=when,
        updated_by="src-1",
    )


def make_card(number: str, ref: StatusRef, *, subject: str = "subj-a") -> CardRecord:
    return CardRecord(
        number=number, subject=subject, status_ref=ref, valid_until=T0 + timedelta(days=365)
    )


def make_proof(
    jti: str,
    ref: StatusRef,
    *,
    subject: str = "subj-a",
    issued_at: datetime = T0,
    lifetime_s: int = 300,
) -> ProofRecord:
    return ProofRecord(
        jti=jti,
        kid="key-1",
        subject=subject,
        type="parking",
        status_ref=ref,
        name="A. Lovelace",
        attributes={"zone": "A"},
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=lifetime_s),
    )
