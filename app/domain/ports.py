"""The Protocols the domain needs from the outside world. Implementations live in
`app.storage` (SQLite, Redis, Redis Cluster); the domain never imports them.

The store is cut by concern (clients, entitlements, status lists, proofs and checks,
rate counters, audit log, audit evidence) so that a service states the part it uses;
`Store` is all of them, as every backend implements it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from app.domain import records

__all__ = [
    "CODE_HOLD_S",
    "STATUS_LIST_SIZE",
    "AuditEvidence",
    "AuditLog",
    "ClientStore",
    "Clock",
    "EntitlementStore",
    "GuessStore",
    "ProofStore",
    "RateCounter",
    "StatusLists",
    "Store",
    "SystemClock",
]

#: entries per status list: 2**20, so one fetch says nothing about who is being checked
STATUS_LIST_SIZE = 1 << 20
#: a numeric code stays bound to its proof this long after the proof expired: a counter
#: typing yesterday's code is told "expired" (the citizen should renew) rather than
#: "unknown", and no other proof can draw the code meanwhile, so that answer is never
#: about someone else's proof
CODE_HOLD_S = 86_400


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ClientStore(Protocol):
    """API clients: added, looked up by key hash, listed, revoked."""

    async def add_client(self, client: records.ClientRecord, audit: records.AuditEvent) -> None: ...

    async def get_client_by_key_hash(self, key_hash: str) -> records.ClientRecord | None: ...

    async def get_client(self, client_id: str) -> records.ClientRecord | None: ...

    async def list_clients(self) -> list[records.ClientRecord]: ...

    async def revoke_client(self, client_id: str, at: datetime, audit: records.AuditEvent) -> bool:
        """Mark revoked; False if no such client or already revoked."""


class EntitlementStore(Protocol):
    """Entitlements and cards, with their places in the status lists; the bulk forms
    for batch ingest take one round trip / one transaction per chunk."""

    async def allocate_status_ref(self, subject: str) -> records.StatusRef:
        """Reserve a random, never-used index in a status list (new list when full) for
        an entitlement or card of `subject`. A sharded store allocates in the subject's
        shard, so that the record, its status bit and its audit can be written at once."""

    async def get_entitlement(self, type_id: str, subject: str) -> records.Entitlement | None: ...

    async def list_entitlements(self, subject: str) -> list[records.Entitlement]: ...

    async def save_entitlement(self, write: records.EntitlementWrite) -> None:
        """Atomically write the entitlement, set status bits, upsert cards, append audit.

        `write.expected_version` is None for a creation (fails if the record exists) or
        the version read before (fails if it changed). Raises `VersionConflict` then.
        `ent.status_ref` is always set to `ent.status` as part of the write.
        """

    # bulk forms, for batch ingest: one round trip / one transaction per chunk
    async def get_entitlements(
        self, keys: Sequence[tuple[str, str]]
    ) -> list[records.Entitlement | None]:
        """`get_entitlement` for each (type, subject), in order."""

    async def allocate_status_refs(self, subjects: Sequence[str]) -> list[records.StatusRef]:
        """`allocate_status_ref` for each subject, in order."""

    async def save_entitlements(self, writes: Sequence[records.EntitlementWrite]) -> list[bool]:
        """`save_entitlement` for each write, each one atomic on its own; a write whose
        expected version does not match is skipped (False at its place) instead of
        raising, the others are applied (True). Keys are distinct within one call."""

    async def get_cards(self, numbers: Sequence[str]) -> list[records.CardRecord]: ...


class StatusLists(Protocol):
    """The status lists as the issuer publishes them."""

    async def get_status(self, ref: records.StatusRef) -> int: ...

    async def status_list_ids(self) -> list[str]: ...

    async def status_list_bytes(self, list_id: str) -> bytes | None:
        """The list packed as the IETF Token Status List wants it (2 bits per entry,
        entry 0 in the least significant bits of byte 0), STATUS_LIST_SIZE/4 bytes, or
        None if no such list exists."""


class ProofStore(Protocol):
    """Issued proofs, their numeric codes, and the live step of an online check."""

    def entitlement_hint(self, type_id: str, subject: str) -> records.Entitlement | None:
        """The entitlement a proof was last saved on by this store instance, if it
        remembers one (None otherwise; a store whose reads are cheap remembers none).
        A hint only, maybe stale: a proof made from it is saved with it as `basis`, which
        refuses a stale one."""

    async def save_proof(
        self,
        proof: records.ProofRecord,
        code: str | None,
        audit: records.AuditEvent,
        basis: records.Entitlement | None = None,
    ) -> bool:
        """Store the proof with its audit, and its numeric code (the keyed digest the
        domain computed, never the digits) until `CODE_HOLD_S` after the proof expires.
        False, and nothing written, if another proof holds the code until later than
        this proof's `issued_at`.

        `basis`: the entitlement the proof was made from. Unless the stored entitlement
        of the proof's type and subject is still that one, checked in the same atomic
        step, no proof is written and `EntitlementMoved` is raised with the stored one: a
        proof is never saved for a right revoked or changed after it was read. (A store
        that claims a code in a step of its own, a Redis Cluster, leaves it held by no
        proof until its hold ends.)"""

    async def get_proof_by_code(self, code: str, now: datetime) -> records.ProofRecord | None:
        """The proof holding `code` at `now`: live, or expired less than `CODE_HOLD_S`
        ago (the caller tells those apart); None when no proof holds it."""

    async def check_and_record(self, check: records.CheckRequest) -> records.CheckOutcome:
        """One step of an online check: read the status at `check.ref`, append the audit
        event chosen by that status (`audit_by_status[status]`, else
        `audit_by_status[-1]`), with its `subject` filled from the proof registry when
        None and `jti` is known, and, when `jti` is given, return how often it was
        verified before and by how many distinct `org`s within `seen_window_s`, then
        count this check."""


class RateCounter(Protocol):
    """Counters in fixed time windows (the guess limit on code and card lookups)."""

    async def hit_rate(self, key: str, window_s: int, now: datetime) -> int:
        """Count one hit in the fixed window containing `now`; return the count so far.

        Atomic across workers: concurrent hits each get a count of their own, so a
        limit compared with the returned count holds however many arrive at once."""

    async def undo_hit(self, key: str, window_s: int, now: datetime) -> None:
        """Take back one hit that `hit_rate` counted at the same `now` (a lookup that
        reserved a place under the limit and then found what it looked for)."""

    async def rate_count(self, key: str, window_s: int, now: datetime) -> int:
        """The count in the current window, without counting a hit."""


class AuditLog(Protocol):
    """The hash-chained audit log: appended to, read back, and what concerns a citizen."""

    async def append_audit(self, event: records.AuditEvent) -> None: ...

    def iter_audit(self) -> AsyncIterator[records.AuditRecord]:
        """Every record of every chain, in chain then sequence order."""

    async def verifications_for(self, subject: str, limit: int) -> list[records.AuditEvent]:
        """Verification and card-check events concerning `subject`, newest first."""


class AuditEvidence(Protocol):
    """What proves the audit log whole: records as stored, chain heads, signed
    checkpoints, and what was moved to the archive."""

    #: whether the verification index is kept apart from the records (and so must be
    #: compared with them), and how many entries it keeps per subject (None: all)
    separate_verification_index: bool
    verification_cap: int | None

    def iter_audit_stored(self) -> AsyncIterator[records.StoredAudit]:
        """Every record exactly as stored (bytes, copied columns), in chain then sequence
        order, the records of one `group` together."""

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        """Every chain the store knows: (records, hash of its last record)."""

    async def verification_pointers(
        self, group: str, subjects: Sequence[str]
    ) -> list[list[tuple[str, int]]]:
        """The separate verification index of each subject in `group`: (chain, seq)."""

    async def add_checkpoint(self, note: bytes, expected_count: int) -> bool:
        """Keep a signed checkpoint if exactly `expected_count` were ever kept (those
        `trim_checkpoints` dropped count too); else False."""

    async def checkpoints(self) -> list[bytes]:
        """Every checkpoint still kept (not dropped by `trim_checkpoints`), oldest first."""

    async def latest_checkpoint(self) -> tuple[int, bytes | None]:
        """How many checkpoints were ever kept (dropped ones too), and the newest one."""

    async def dropped_checkpoints(self) -> tuple[int, str | None]:
        """How many of the oldest checkpoints `trim_checkpoints` dropped, and the note
        hash (`checkpoints.note_hash`) of the last of them (None: none dropped)."""

    async def trim_checkpoints(self, upto: int, last: bytes) -> bool:
        """Drop checkpoints 1..`upto` (counted as `latest_checkpoint` does; they are in an
        archive now) and remember `upto` and the note hash of `last`, in one atomic step;
        False, with nothing changed, unless checkpoint `upto` is exactly `last` and a
        newer one stays kept. Dropped before (with that last one): True."""

    async def audit_archived(self) -> dict[str, tuple[int, str, int]]:
        """What was moved to the archive: chain -> (records 1..n gone from the store, hash
        of record n, the archive's cut-off date in µs since the epoch)."""

    async def trim_archived(self, trim: records.AuditTrim) -> bool:
        """Drop the records `trim` names and remember it; False if its last record no
        longer hashes to `trim.digest`. A trim done before returns True."""


class Store(
    ClientStore,
    EntitlementStore,
    StatusLists,
    ProofStore,
    RateCounter,
    AuditLog,
    AuditEvidence,
    Protocol,
):
    """Persistence of Statuspass: every port above, on one backend. Every method may
    raise `StoreUnavailable`.

    Writes that are acknowledged (the coroutine returned) survive a crash of the process.
    Each write that carries an `audit` event appends it to the hash-chained audit log in
    the same atomic step: either both are stored, or neither.
    """

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers now."""

    async def close(self) -> None: ...


class GuessStore(RateCounter, AuditLog, Protocol):
    """What the guess limit needs: its counters, and the audit for the refusals it logs."""
