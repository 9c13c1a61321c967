"""The replay of the audit chains that `audit verify` runs: each record checked against
its place, its predecessor, its hash, its canonical bytes and what the checkpoints
signed, chain by chain (a chain's records may come in several runs: archive segments,
then the store). `verify` feeds it and reads the report.
"""

from __future__ import annotations

import msgspec

from app.audit.checkpoints import Checkpoint
from app.audit.format import (
    ARCHIVE_GROUP,
    VERIFICATION_ACTIONS,
    NotCanonical,
    event_keys_strict,
    legacy_hash,
    record_hash,
)
from app.domain.events import GENESIS_HASH
from app.domain.records import StoredAudit

__all__ = ["AuditReport", "Expect", "Walk"]


class AuditReport(msgspec.Struct, kw_only=True):
    records: int = 0
    chains: dict[str, int] = msgspec.field(default_factory=dict)  # chain -> records
    legacy: int = 0  # records hashed the old way, at the start of their chain
    unchecked: int = 0  # archived records, not checked because no archive was given
    checkpoints: int = 0  # checkpoints whose signature verified
    latest: Checkpoint | None = None
    problems: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem(self) -> str | None:
        """The first problem, if any."""
        return self.problems[0] if self.problems else None


class Expect(msgspec.Struct):
    """What a checkpoint signed of a chain: the hash of its record at some length."""

    head: str
    source: str


class Walk:
    """The state of the replay: every chain's next seq and last hash (a chain's records
    may come in several runs: archive segments, then the store), and what checkpoints
    expect."""

    def __init__(self, report: AuditReport, expect: dict[str, dict[int, Expect]]) -> None:
        self.report = report
        self.expect = expect
        self.chain: str | None = None
        self.next_seq = 1
        self.prev = GENESIS_HASH
        self.legacy_ok = True
        self.states: dict[str, tuple[int, str, bool]] = {}
        self.index: dict[str, list[tuple[str, int]]] = {}
        self.archived_upto = {}
        self._expect: dict[int, Expect] = {}
        self._kept_from = 0

    def problem(self, line: str) -> None:
        self.report.problems.append(line)

    def start(self, chain: str, base: tuple[int, str] | None = None) -> None:
        """Go on with `chain` where it stopped; `base`: where the store says its kept
        records begin (records 1..n archived, the n-th hashing to the given hash)."""
        self.pause()
        state = self.states.get(chain)
        if state is None and base is not None:
            if self.overlap is not None:  # the archive was read, and has none of it
                self.problem(
                    f"chain {chain}: the store says records 1-{base[0]} were archived, the "
                    "archive holds none of them (a segment is missing)"
                )
            else:  # the archive was not read: its records cannot be checked here
                self.report.unchecked += base[0]
            state = (base[0] + 1, base[1], False)
        elif state is not None and base is not None and state[0] - 1 < base[0]:
            self.problem(
                f"chain {chain}: the store says records 1-{base[0]} were archived, the "
                f"archive holds 1-{state[0] - 1} (a segment is missing)"
            )
            state = (base[0] + 1, base[1], False)
        self.chain = chain
        self._expect = self.expect.get(chain, {})
        self._kept_from = self.archived_upto.get(chain, 0)
        self.next_seq, self.prev, self.legacy_ok = state or (1, GENESIS_HASH, True)

    def resume(self, chain: str, first: int, prev: str) -> None:
        """Go on with `chain` from record `first`, linked to `prev`, whatever came before
        (one segment read on its own: `splice` joins its runs to the rest)."""
        self.start(chain)
        self.next_seq, self.prev = first, prev

    def splice(self, chain: str, first: int, prev: str, last: int, head: str) -> None:
        """Records `first`..`last` of `chain`, checked elsewhere (`resume`), the first
        linked to `prev`, the last hashing to `head`: they must go on from here."""
        if chain != self.chain:
            self.start(chain)
        if first != self.next_seq or prev != self.prev:
            self._misplaced(StoredAudit(chain=chain, seq=first, prev=prev, hash="", data=b""))
        self.prev, self.legacy_ok = head, False
        self.next_seq = max(self.next_seq, last + 1)

    def pause(self) -> None:
        if self.chain is not None:
            self.states[self.chain] = (self.next_seq, self.prev, self.legacy_ok)
            self.chain = None

    def finish(self) -> dict[str, int]:
        self.pause()
        lengths = {chain: state[0] - 1 for chain, state in self.states.items()}
        for chain, length in sorted(lengths.items()):
            for size, want in sorted(self.expect.get(chain, {}).items()):
                if size > length:
                    self.problem(
                        f"chain {chain}: holds {length} records, {want.source} signed "
                        f"{size} (the tail was truncated)"
                    )
                    break
        return lengths

    def record(self, r: StoredAudit, index: bool) -> None:
        seq = r.seq
        if seq != self.next_seq or r.prev != self.prev:
            if (
                seq < self.next_seq
                and r.hash == self.archived_hash(r)
                and r.hash == record_hash(r.chain, seq, r.prev, r.data)
            ):
                # still in the store and already in the archive (a drop not yet done):
                # still in the store's index too
                self._index(r, index, *event_keys_strict(r.data))
                return
            self._misplaced(r)
        if r.group == ARCHIVE_GROUP:
            # hashed from its bytes as it was read; the segment's end line, the store's
            # archived head and the checkpoints pin the result
            self.legacy_ok = False
        elif r.hash == record_hash(r.chain, seq, r.prev, r.data):
            self.legacy_ok = False
        elif self.legacy_ok and r.hash == legacy_hash(r.prev, r.data):
            self.report.legacy += 1
        else:
            self.problem(
                f"chain {r.chain} record {seq}: its bytes do not match its hash (edited, or "
                "moved here)"
            )
        try:
            action, subject = event_keys_strict(r.data)
        except NotCanonical as exc:
            self.problem(f"chain {r.chain} record {seq}: {exc}")
        else:
            for column, value in r.columns:
                if value != (action if column == "action" else subject):
                    self.problem(
                        f"chain {r.chain} record {seq}: its {column} column disagrees with "
                        "its hashed event"
                    )
            if index:
                self._index(r, index, action, subject)
        want = self._expect.get(seq)
        if want is not None and want.head != r.hash:
            self.problem(
                f"chain {r.chain} record {seq}: is not the record {want.source} signed "
                f"(records 1-{seq} were rewritten)"
            )
        if self.collect and seq > self._kept_from and self.overlap is not None:
            self.overlap.setdefault(r.chain, {})[seq] = r.hash
        self.prev = r.hash
        if seq >= self.next_seq:  # resynchronise after a gap: one line per problem
            self.next_seq = seq + 1
        self.report.records += 1

    def _misplaced(self, r: StoredAudit) -> None:
        """The problem with a record that is not the next one of its chain."""
        where = f"chain {r.chain} record {r.seq}"
        if r.seq > self.next_seq:
            gap = str(self.next_seq)
            if r.seq > self.next_seq + 1:
                gap += f"-{r.seq - 1}"
            self.problem(f"chain {r.chain}: record(s) {gap} missing (deleted or moved)")
        elif r.seq < self.next_seq:
            self.problem(f"{where}: out of order or duplicated (expected {self.next_seq})")
        else:
            self.problem(f"{where}: does not link to the record before it (reordered or replaced)")

    def _index(self, r: StoredAudit, index: bool, action: str, subject: str | None) -> None:
        if index and action in VERIFICATION_ACTIONS and subject is not None:
            self.index.setdefault(subject, []).append((r.chain, r.seq))

    #: while reading the archive: chain -> seq -> hash of archived records the store may
    #: still hold (past what it says it archived: `kept_from`), so that those are not
    #: counted twice
    overlap: dict[str, dict[int, str]] | None = None
    #: chain -> the last record the store says it archived (dropped)
    archived_upto: dict[str, int]
    #: whether records go into `overlap` (while reading the archive)
    collect = False

    def archived_hash(self, r: StoredAudit) -> str | None:
        return None if self.overlap is None else self.overlap.get(r.chain, {}).get(r.seq)
