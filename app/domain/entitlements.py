"""Entitlements written by authentic sources: upsert, revoke, suspend, reinstate.

Every write goes through `Store.save_entitlement`, which stores the record, its status-list
bit(s) and the audit event atomically. Upserts are idempotent: sending the same line twice
changes nothing the second time (a resync of two million lines writes only what changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from app.domain.clients import require_scope
from app.domain.ports import EntitlementStore
from app.domain.records import (
    INVALID,
    SUSPENDED,
    VALID,
    AuditEvent,
    CardRecord,
    ClientRecord,
    Entitlement,
    EntitlementWrite,
    Holder,
    StatusRef,
)
from app.domain.registry import EntitlementType, Registry
from app.domain.validity import checked_attributes
from app.errors import Conflict, InvalidInput, NotFound, VersionConflict
from app.tokens import pseudonym, validate_nrn

__all__ = [
    "STATUS_NAMES",
    "EntitlementService",
    "UpsertInput",
    "WriteResult",
    "next_version",
    "same_content",
]

STATUS_NAMES = {VALID: "valid", INVALID: "revoked", SUSPENDED: "suspended"}
_ACTION_STATUS = {"revoke": INVALID, "suspend": SUSPENDED, "reinstate": VALID}
CARD_DIGITS = 10
MAX_NAME = 100


class UpsertInput(msgspec.Struct, frozen=True, kw_only=True):
    nrn: str
    holder: Holder
    valid_from: datetime
    valid_until: datetime
    attributes: dict[str, str] = {}


class WriteResult(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    outcome: str  # created | updated | unchanged | revoked | suspended | reinstated
    status: str  # valid | revoked | suspended


def _check_holder(holder: Holder) -> None:
    for field, value in (("given_name", holder.given_name), ("family_name", holder.family_name)):
        if not value.strip() or len(value) > MAX_NAME or not value.isprintable():
            raise InvalidInput(
                f"holder.{field} must be 1 to {MAX_NAME} printable characters",
                field=f"holder.{field}",
            )


def _check_attributes(etype: EntitlementType, attributes: dict[str, str]) -> None:
    expected, given = set(etype.attributes), set(attributes) - {etype.valid_until_claim}
    if given != expected:
        missing, extra = sorted(expected - given), sorted(given - expected)
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else []
        )
        raise InvalidInput(f"attributes for {etype.id}: {'; '.join(parts)}", field="attributes")
    if "card_number" in attributes:
        number = attributes["card_number"]
        if len(number) != CARD_DIGITS or not (number.isascii() and number.isdigit()):
            raise InvalidInput("card_number must be 10 digits", field="attributes.card_number")


def next_version(
    type_id: str,
    subject: str,
    data: UpsertInput,
    old: Entitlement | None,
    ref: StatusRef,
    now: datetime,
    by: str,
) -> Entitlement:
    """The record an upsert writes: `data` over the `old` record (keeping its status,
    reason and status reference), or a first version, valid, at `ref`."""
    return Entitlement(
        type=type_id,
        subject=subject,
        holder=data.holder,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        attributes=dict(data.attributes),
        status=old.status if old else VALID,
        status_ref=ref,
        reason=old.reason if old else None,
        version=old.version + 1 if old else 1,
        updated_at=now,
        updated_by=by,
    )


def same_content(old: Entitlement, data: UpsertInput) -> bool:
    """True when an upsert would change nothing (idempotent re-sends write nothing)."""
    return (
        old.holder == data.holder
        and old.valid_from == data.valid_from
        and old.valid_until == data.valid_until
        and old.attributes == data.attributes
    )


class EntitlementService:
    def __init__(self, store: EntitlementStore, registry: Registry, secret: bytes) -> None:
        self._store = store
        self._registry = registry
        self._secret = secret

    def subject_for(self, nrn: str) -> str:
        """The record key of a person: HMAC of the validated NRN (never stored in clear)."""
        return pseudonym(validate_nrn(nrn), self._secret)

    async def upsert(
        self, client: ClientRecord, type_id: str, data: UpsertInput, now: datetime
    ) -> WriteResult:
        etype, subject, data = self.prepare(client, type_id, data)
        for attempt in range(3):
            try:
                return await self._upsert_once(client, etype, subject, data, now)
            except VersionConflict:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def prepare(
        self, client: ClientRecord, type_id: str, data: UpsertInput
    ) -> tuple[EntitlementType, str, UpsertInput]:
        """Check everything that needs no store: scope, NRN, holder, attributes, dates.

        Returns the type, the subject and the input as it is stored (derived claims out).
        """
        etype = self._registry.get(type_id)
        require_scope(client, "source", type_id)
        subject = self.subject_for(data.nrn)
        _check_holder(data.holder)
        _check_attributes(etype, data.attributes)
        attributes = checked_attributes(etype, data.valid_from, data.valid_until, data.attributes)
        if attributes is not data.attributes:
            data = msgspec.structs.replace(data, attributes=attributes)
        return etype, subject, data

    async def _upsert_once(
        self,
        client: ClientRecord,
        etype: EntitlementType,
        subject: str,
        data: UpsertInput,
        now: datetime,
    ) -> WriteResult:
        existing = await self._store.get_entitlement(etype.id, subject)
        if existing is not None and same_content(existing, data):
            return WriteResult(
                type=etype.id, outcome="unchanged", status=STATUS_NAMES[existing.status]
            )
        status = existing.status if existing else VALID
        updates: list[tuple[StatusRef, int]] = []
        cards: list[CardRecord] = []
        if "card_number" in data.attributes:
            ref, updates, cards = await self._card_changes(subject, existing, data, now)
        else:
            ref = (
                existing.status_ref if existing else await self._store.allocate_status_ref(subject)
            )
        ent = next_version(etype.id, subject, data, existing, ref, now, client.id)
        outcome = "updated" if existing else "created"
        await self._store.save_entitlement(
            EntitlementWrite(
                ent=ent,
                expected_version=existing.version if existing else None,
                status_updates=tuple(updates),
                cards=tuple(cards),
                audit=AuditEvent(
                    at=now,
                    actor=client.id,
                    action="grant" if not existing else "update",
                    type=etype.id,
                    subject=subject,
                    result=outcome,
                ),
            )
        )
        return WriteResult(type=etype.id, outcome=outcome, status=STATUS_NAMES[status])

    async def _card_changes(
        self, subject: str, existing: Entitlement | None, data: UpsertInput, now: datetime
    ) -> tuple[StatusRef, list[tuple[StatusRef, int]], list[CardRecord]]:
        """A new card gets its own status entry; the cards it replaces are revoked.

        Card numbers end in a two-digit duplicate counter: registering 1234567801 revokes
        1234567800 (a lost card reported, a duplicate printed). The holder's previous card,
        if any, is revoked too: one person, one valid card.
        """
        number = data.attributes["card_number"]
        base, dup = number[:8], int(number[8:])
        wanted = {f"{base}{n:02d}" for n in range(dup + 1)}
        old_number = existing.attributes.get("card_number") if existing else None
        if old_number:
            wanted.add(old_number)
        known = {c.number: c for c in await self._store.get_cards(sorted(wanted))}
        current = known.get(number)
        if current is not None and current.subject != subject:
            raise Conflict(f"card {number[:4]}… is registered to another holder")
        ref = current.status_ref if current else await self._store.allocate_status_ref(subject)
        # the card is valid exactly as long as the entitlement: a typed card number and
        # the card's QR proof answer from the same dates
        cards = [
            CardRecord(
                number=number,
                subject=subject,
                status_ref=ref,
                valid_until=data.valid_until,
                valid_from=data.valid_from,
            )
        ]
        # only the holder's own cards: a source cannot revoke someone else's card by
        # registering a number that happens to share its first eight digits
        updates = [
            (card.status_ref, INVALID)
            for num, card in known.items()
            if num != number and card.subject == subject and (num[:8] == base or num == old_number)
        ]
        return ref, updates, cards

    async def change_status(
        self,
        client: ClientRecord,
        type_id: str,
        action: str,
        nrn: str,
        reason: str | None,
        now: datetime,
    ) -> WriteResult:
        """Revoke, suspend or reinstate. Idempotent: the same change twice is 'unchanged'."""
        etype = self._registry.get(type_id)
        require_scope(client, "source", type_id)
        subject = self.subject_for(nrn)
        if reason is not None and len(reason) > 200:
            raise InvalidInput("reason is at most 200 characters", field="reason")
        target = _ACTION_STATUS[action]
        for attempt in range(3):
            existing = await self._store.get_entitlement(etype.id, subject)
            if existing is None:
                raise NotFound(f"no {etype.id} entitlement for this person")
            if existing.status == target:
                return WriteResult(type=etype.id, outcome="unchanged", status=STATUS_NAMES[target])
            ent = msgspec.structs.replace(
                existing,
                status=target,
                reason=reason if target != VALID else None,
                version=existing.version + 1,
                updated_at=now,
                updated_by=client.id,
            )
            try:
                await self._store.save_entitlement(
                    EntitlementWrite(
                        ent=ent,
                        expected_version=existing.version,
                        audit=AuditEvent(
                            at=now,
                            actor=client.id,
                            action=action,
                            type=etype.id,
                            subject=subject,
                            result=STATUS_NAMES[target],
                        ),
                    )
                )
            except VersionConflict:
                if attempt == 2:
                    raise
                continue
            done = {"revoke": "revoked", "suspend": "suspended", "reinstate": "reinstated"}
            return WriteResult(type=etype.id, outcome=done[action], status=STATUS_NAMES[target])
        raise AssertionError("unreachable")

    async def for_subject(self, subject: str) -> Sequence[Entitlement]:
        return await self._store.list_entitlements(subject)
