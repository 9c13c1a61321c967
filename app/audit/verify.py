"""`audit verify`: replay every chain and hold it against every signed checkpoint.

What is proved, and how:

* each record's hash covers its chain, place, predecessor and exact bytes
  (`format.record_hash`): an edit of any byte, or a record moved to another
  chain or place, fails that record; a deletion or reordering breaks the sequence or
  the link;
* the bytes are the one canonical encoding of their event, and every column copied from
  them agrees with them (what a citizen is shown is read from the same bytes);
* every checkpoint (kept in the store, or handed in as a file by a witness) must verify
  against a known audit key, name its predecessor, and its lanes must be found: each
  chain still holds the record it signed at that length, with that hash. A truncated
  tail, a deleted chain (whatever registry says) and a log rewritten with recomputed
  hashes all fail there, and the checkpoint's signature cannot be recomputed without the
  audit key;
* a separate verification index (Redis) lists exactly the checks of each subject.

Problems are plain lines naming the chain and record; nothing stops at the first one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.checkpoints import Checkpoint, CheckpointError, note_hash, open_note
from app.audit.format import (
    ARCHIVE_GROUP,
    VERIFICATION_ACTIONS,
    NotCanonical,
    decode_event_strict,
    legacy_hash,
    record_hash,
)
from app.domain.ports import Store
from app.domain.records import GENESIS_HASH, AuditEvent, StoredAudit

__all__ = ["AuditReport", "verify_audit"]

Keys = dict[tuple[str, bytes], Ed25519PublicKey]
#: subjects per round trip when comparing a verification index
_INDEX_BATCH = 200


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


class _Expect(msgspec.Struct):
    head: str
    source: str


class _Walk:
    """The state of the replay: every chain's next seq and last hash (a chain's records
    may come in several runs: archive segments, then the store), and what checkpoints
    expect."""

    def __init__(self, report: AuditReport, expect: dict[str, dict[int, _Expect]]) -> None:
        self.report = report
        self.expect = expect
        self.chain: str | None = None
        self.next_seq = 1
        self.prev = GENESIS_HASH
        self.legacy_ok = True
        self.states: dict[str, tuple[int, str, bool]] = {}
        self.index: dict[str, list[tuple[str, int]]] = {}

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
        self.next_seq, self.prev, self.legacy_ok = state or (1, GENESIS_HASH, True)

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
        where = f"chain {r.chain} record {r.seq}"
        if r.seq < self.next_seq and r.hash == self.archived_hash(r):
            # still in the store and already in the archive (a drop not yet done): still
            # in the store's index too
            self._index(r, index, decode_event_strict(r.data))
            return
        if r.seq > self.next_seq:
            gap = str(self.next_seq)
            if r.seq > self.next_seq + 1:
                gap += f"-{r.seq - 1}"
            self.problem(f"chain {r.chain}: record(s) {gap} missing (deleted or moved)")
        elif r.seq < self.next_seq:
            self.problem(f"{where}: out of order or duplicated (expected {self.next_seq})")
        elif r.prev != self.prev:
            self.problem(f"{where}: does not link to the record before it (reordered or replaced)")
        if r.group == ARCHIVE_GROUP:
            # hashed from its bytes as it was read; the segment's end line, the store's
            # archived head and the checkpoints pin the result
            self.legacy_ok = False
        elif r.hash == record_hash(r.chain, r.seq, r.prev, r.data):
            self.legacy_ok = False
        elif self.legacy_ok and r.hash == legacy_hash(r.prev, r.data):
            self.report.legacy += 1
        else:
            self.problem(f"{where}: its bytes do not match its hash (edited, or moved here)")
        try:
            event = decode_event_strict(r.data)
        except NotCanonical as exc:
            self.problem(f"{where}: {exc}")
            event = None
        if event is not None:
            for column, value in r.columns:
                if value != getattr(event, column):
                    self.problem(f"{where}: its {column} column disagrees with its hashed event")
            self._index(r, index, event)
        want = self.expect.get(r.chain, {}).get(r.seq)
        if want is not None and want.head != r.hash:
            self.problem(
                f"{where}: is not the record {want.source} signed (records 1-{r.seq} "
                "were rewritten)"
            )
        if self.overlap is not None:
            self.overlap.setdefault(r.chain, {})[r.seq] = r.hash
        self.prev = r.hash
        if r.seq >= self.next_seq:  # resynchronise after a gap: one line per problem
            self.next_seq = r.seq + 1
        self.report.records += 1

    def _index(self, r: StoredAudit, index: bool, event: AuditEvent) -> None:
        if index and event.action in VERIFICATION_ACTIONS and event.subject is not None:
            self.index.setdefault(event.subject, []).append((r.chain, r.seq))

    #: while reading the archive: chain -> seq -> hash of archived records the store may
    #: still hold (past what it says it archived), so that those are not counted twice
    overlap: dict[str, dict[int, str]] | None = None

    def archived_hash(self, r: StoredAudit) -> str | None:
        return None if self.overlap is None else self.overlap.get(r.chain, {}).get(r.seq)


def _open_all(
    notes: Sequence[tuple[str, bytes]], keys: Keys, report: AuditReport, *, stored: bool
) -> list[tuple[str, Checkpoint]]:
    opened: list[tuple[str, Checkpoint]] = []
    last: tuple[str, bytes, Checkpoint] | None = None
    for source, note in notes:
        try:
            checkpoint, _signer = open_note(note, keys)
        except CheckpointError as exc:
            report.problems.append(f"{source}: {exc} (forged or altered)")
            continue
        report.checkpoints += 1
        opened.append((source, checkpoint))
        if stored:
            if last is None and len(opened) == 1 and checkpoint.previous is not None:
                report.problems.append(f"{source}: names a predecessor that is not kept")
            if last is not None:
                if checkpoint.previous != note_hash(last[1]):
                    report.problems.append(
                        f"{source}: does not follow {last[0]} (a checkpoint was removed or "
                        "inserted)"
                    )
                for chain, (size, _head) in last[2].lanes.items():
                    if checkpoint.lanes.get(chain, (0, ""))[0] < size:
                        report.problems.append(
                            f"{source}: chain {chain} is shorter than in {last[0]}"
                        )
            last = (source, note, checkpoint)
    return opened


async def verify_audit(
    store: Store,
    keys: Keys | None = None,
    *,
    external: Sequence[tuple[str, bytes]] = (),
    records: AsyncIterator[StoredAudit] | None = None,
    archive: Iterable[StoredAudit] | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Replay the log and check it against every checkpoint (see the module docstring).

    Args:
        store: the store holding the records and the kept checkpoints.
        keys: every audit public key, by (name, key id); without them, every
            checkpoint kept in the store is reported as signed by no known key.
        external: (file name, note) of checkpoints kept outside the store.
        records: the records to replay (default: the store's own).
        archive: the archived records, read before the store's (`audit --archive`).
        progress: called with the count of records every 100,000.
    """
    report = AuditReport()
    keys = keys or {}
    stored = await store.checkpoints()
    opened = _open_all(
        [(f"stored checkpoint {i}", n) for i, n in enumerate(stored, 1)], keys, report, stored=True
    )
    opened += _open_all(external, keys, report, stored=False)
    expect: dict[str, dict[int, _Expect]] = {}
    for source, checkpoint in opened:
        label = f"{source} ({checkpoint.time:%Y-%m-%d %H:%M:%SZ})"
        if report.latest is None or checkpoint.size >= report.latest.size:
            report.latest = checkpoint
        for chain, (size, head) in checkpoint.lanes.items():
            known = expect.setdefault(chain, {}).get(size)
            if known is not None and known.head != head:
                report.problems.append(
                    f"{label} and {known.source} disagree on chain {chain} record {size}"
                )
            expect[chain].setdefault(size, _Expect(head, label))
    walk = _Walk(report, expect)
    bases = {c: (upto, h) for c, (upto, h, _b) in (await store.audit_archived()).items()}
    if archive is not None:
        # the archive first: the store's records of a chain continue its segments'
        walk.overlap = {}
        for r in archive:
            if r.chain != walk.chain:
                walk.start(r.chain)
            walk.record(r, False)
        walk.pause()
        # only archived records past what the store dropped can still be in the store
        walk.overlap = {
            chain: {q: h for q, h in seqs.items() if q > bases.get(chain, (0, ""))[0]}
            for chain, seqs in walk.overlap.items()
        }
    index = store.separate_verification_index
    group: str | None = None
    async for r in records if records is not None else store.iter_audit_stored():
        if r.group != group:
            if group is not None and index:
                await _check_index(store, group, walk)
            group = r.group
        if r.chain != walk.chain:
            walk.start(r.chain, bases.get(r.chain))
        walk.record(r, index)
        if progress and report.records % 100_000 == 0:
            progress(report.records)
    if group is not None and index:
        await _check_index(store, group, walk)
    for chain, base in bases.items():  # chains archived whole: none of their records kept
        if chain not in walk.states:
            walk.start(chain, base)
    report.chains = walk.finish()
    for chain, sizes in sorted(expect.items()):
        if chain not in report.chains:
            size, want = max(sizes.items())
            report.problems.append(f"chain {chain}: missing ({want.source} signed {size} records)")
    for chain, (size, _head) in sorted((await store.audit_heads()).items()):
        if size == 0 and chain not in expect:
            report.problems.append(f"chain {chain}: registered but holds no records (deleted)")
    return report


async def _check_index(store: Store, group: str, walk: _Walk) -> None:
    """Compare the separate verification index of `group` with its records."""
    cap = store.verification_cap
    subjects = sorted(walk.index)
    for start in range(0, len(subjects), _INDEX_BATCH):
        batch = subjects[start : start + _INDEX_BATCH]
        found = await store.verification_pointers(group, batch)
        for subject, entries in zip(batch, found, strict=True):
            want = set(walk.index[subject])
            have = set(entries)
            who = f"shard {group}: the verification index of citizen:{subject[:12]}"
            for chain, seq in sorted(have - want):
                walk.problem(f"{who}: points to {chain} record {seq}, not a check of its subject")
            hidden = min(len(want), cap or len(want)) - len(have & want)
            if hidden > 0:
                walk.problem(f"{who}: {hidden} check(s) of its subject are not listed (hidden)")
    walk.index.clear()
