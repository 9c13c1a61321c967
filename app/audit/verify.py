"""`audit verify`: replay every chain and hold it against every signed checkpoint.

What is proved, and how:

* each record's hash covers its chain, place, predecessor and exact bytes
  (`format.record_hash`): an edit of any byte, or a record moved to another
  chain or place, fails that record; a deletion or reordering breaks the sequence or
  the link;
* the bytes are the one canonical encoding of their event, and every column copied from
  them agrees with them (what a citizen is shown is read from the same bytes);
* every checkpoint (kept in the store, in the archive, or handed in as a file by a
  witness) must verify against a known audit key, name its predecessor, and its lanes
  must be found: each chain still holds the record it signed at that length, with that
  hash. A truncated tail, a deleted chain (whatever registry says) and a log rewritten
  with recomputed hashes all fail there, and the checkpoint's signature cannot be
  recomputed without the audit key;
* the checkpoints form one chain of `previous` links from the first ever signed: the
  archive's from the first, then the store's, whose first one follows the last one the
  store dropped (it records which: `Store.dropped_checkpoints`). Without the archive,
  the dropped ones are counted as not checked;
* a separate verification index (Redis) lists exactly the checks of each subject.

Problems are plain lines naming the chain and record; nothing stops at the first one.
The replay of the records is `replay.Walk`; this module gathers what it is held against
(the checkpoints, what the store archived) and feeds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit import replay
from app.audit.checkpoints import Checkpoint, CheckpointError, note_hash, open_note
from app.audit.parallel import check_archive
from app.audit.replay import Expect, Walk
from app.audit.segments import archive_checkpoints
from app.domain.ports import Store
from app.domain.records import StoredAudit

__all__ = ["AuditReport", "verify_audit"]

Keys = dict[tuple[str, bytes], Ed25519PublicKey]
Notes = Sequence[tuple[str, bytes]]
#: subjects per round trip when comparing a verification index
_INDEX_BATCH = 2_000


class AuditReport(replay.AuditReport, kw_only=True):
    """The replay's report, with what only the checkpoints tell."""

    archived_checkpoints: int = 0  # of `checkpoints`, those read from the archive
    unchecked_checkpoints: int = 0  # dropped from the store, not checked (no archive given)


def _open_all(
    notes: Notes, keys: Keys, report: AuditReport, *, chained: bool, first: str | None = None
) -> list[tuple[str, bytes, Checkpoint]]:
    """Open every note; `chained`: each must name the one before it, the first `first`
    (the note hash of the last one dropped before them, or None: they start the log)."""
    opened: list[tuple[str, bytes, Checkpoint]] = []
    last: tuple[str, bytes, Checkpoint] | None = None
    for source, note in notes:
        try:
            checkpoint, _signer = open_note(note, keys)
        except CheckpointError as exc:
            report.problems.append(f"{source}: {exc} (forged or altered)")
            continue
        report.checkpoints += 1
        opened.append((source, note, checkpoint))
        if chained:
            if last is None and len(opened) == 1 and checkpoint.previous != first:
                report.problems.append(
                    f"{source}: names a predecessor that is not kept"
                    if first is None
                    else f"{source}: does not follow the last checkpoint the store dropped "
                    "(a checkpoint was removed, or the store's record of the drop edited)"
                )
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


async def _kept_checkpoints(store: Store) -> tuple[int, str | None, list[bytes]]:
    """What the store dropped of its checkpoints (count, note hash of the last) and the
    ones it keeps, as of one moment: the count is read again after the list, and both
    again if an archive run dropped some meanwhile (its drops are minutes apart)."""
    dropped = await store.dropped_checkpoints()
    for _ in range(3):
        notes = await store.checkpoints()
        again = await store.dropped_checkpoints()
        if again == dropped:
            break
        dropped = again
    return dropped[0], dropped[1], notes


def _hold_against_archive(
    archived: Notes, stored: list[bytes], dropped: int, last: str | None, report: AuditReport
) -> None:
    """The store's checkpoints continue the archive's: the archive holds the ones the
    store dropped, the last of them the one the store recorded, and any it holds beyond
    them are the store's next ones, byte for byte."""
    problems = report.problems
    if dropped > len(archived):
        problems.append(
            f"the store dropped {dropped} checkpoint(s), the archive holds {len(archived)} "
            "(checkpoints deleted, or a checkpoints file is missing)"
        )
    elif dropped and last != note_hash(archived[dropped - 1][1]):
        problems.append(
            f"the last checkpoint the store dropped is not {archived[dropped - 1][0]} of the "
            "archive (checkpoints deleted, or the store's record of the drop edited)"
        )
    for i, note in enumerate(stored[: max(len(archived) - dropped, 0)], 1):
        source, archived_note = archived[dropped + i - 1]
        if note != archived_note:
            problems.append(f"stored checkpoint {i}: differs from {source} of the archive")
    if dropped + len(stored) < len(archived):
        problems.append(
            f"{archived[dropped + len(stored)][0]} of the archive: no longer kept in the store "
            "(checkpoints deleted)"
        )


async def verify_audit(
    store: Store,
    keys: Keys | None = None,
    *,
    external: Notes = (),
    records: AsyncIterator[StoredAudit] | None = None,
    archive: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Replay the log and check it against every checkpoint (see the module docstring).

    Args:
        store: the store holding the records and the kept checkpoints.
        keys: every audit public key, by (name, key id); without them, every
            checkpoint kept in the store is reported as signed by no known key.
        external: (file name, note) of checkpoints kept by witnesses.
        records: the records to replay (default: the store's own).
        archive: the archive folder (`audit --archive`): its checkpoints are held with
            the store's, its segments read before the store's records (several at once:
            `parallel.check_archive`).
        progress: called with the count of records every 100,000.
    """
    report = AuditReport()
    keys = keys or {}
    dropped, last, stored = await _kept_checkpoints(store)
    named = [(f"stored checkpoint {i}", n) for i, n in enumerate(stored, 1)]
    if dropped and not stored:
        report.problems.append(
            f"the store dropped {dropped} checkpoint(s) into the archive and keeps none "
            "(the newest was deleted)"
        )
    opened = _open_all(named, keys, report, chained=True, first=last)
    if archive is None:
        report.unchecked_checkpoints = dropped
    else:
        archive_notes = archive_checkpoints(archive)
        _hold_against_archive(archive_notes, stored, dropped, last, report)
        from_archive = _open_all(archive_notes, keys, report, chained=True)
        report.archived_checkpoints = len(from_archive)
        # a checkpoint in both is one checkpoint
        both = {note for _s, note, _c in from_archive}
        report.checkpoints -= sum(1 for _s, note, _c in opened if note in both)
        opened += from_archive
    opened += _open_all(external, keys, report, chained=False)
    expect: dict[str, dict[int, Expect]] = {}
    for source, _note, checkpoint in opened:
        label = f"{source} ({checkpoint.time:%Y-%m-%d %H:%M:%SZ})"
        if report.latest is None or checkpoint.size >= report.latest.size:
            report.latest = checkpoint
        for chain, (size, head) in checkpoint.lanes.items():
            known = expect.setdefault(chain, {}).get(size)
            if known is not None and known.head != head:
                report.problems.append(
                    f"{label} and {known.source} disagree on chain {chain} record {size}"
                )
            expect[chain].setdefault(size, Expect(head, label))
    walk = Walk(report, expect)
    bases = {c: (upto, h) for c, (upto, h, _b) in (await store.audit_archived()).items()}
    if archive is not None:
        # the archive first: the store's records of a chain continue its segments'; only
        # archived records past what the store dropped can still be in the store
        walk.archived_upto = {chain: upto for chain, (upto, _h) in bases.items()}
        await check_archive(archive, walk, walk.archived_upto, progress)
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


async def _check_index(store: Store, group: str, walk: Walk) -> None:
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
