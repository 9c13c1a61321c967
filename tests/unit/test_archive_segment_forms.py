"""Archive segments: binary events with their lengths, and the JSON lines of the first
format, read the same."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.audit.format import NotCanonical, decode_event_strict, event_keys_strict, record_hash
from app.audit.segments import (
    MAGIC,
    MAGIC_V1,
    ArchiveRead,
    chain_line,
    end_line,
    read_archive,
    record_lines,
    scan,
)
from app.domain.events import GENESIS_HASH, encode_event, encode_event_legacy
from app.domain.records import AuditEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(n: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            at=T0 + timedelta(seconds=i),
            actor="c0ffee00c0ffee00",
            action="verify",
            result="valid",
            subject=f"{i:064x}",
            org="Museum",
        )
        for i in range(n)
    ]


def test_a_segment_of_the_first_format_still_reads(tmp_path: Path) -> None:
    chain, prev, lines, head = "main", GENESIS_HASH, [], GENESIS_HASH
    for event in _events(3):
        data = encode_event_legacy(event)
        lines.append(data)
        head = record_hash(chain, len(lines), head, data)
    body = b"\n".join(
        [MAGIC_V1, f"chain {chain} 1 {prev}".encode(), *lines, f"end {chain} 3 {head}".encode()]
    )
    (tmp_path / "segment-000001.audit.gz").write_bytes(gzip.compress(body + b"\n"))
    out = ArchiveRead()
    records = list(read_archive(tmp_path, out))
    assert out.problems == []
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[-1].hash == head
    assert [decode_event_strict(r.data) for r in records] == _events(3)


def _segment(events: list[AuditEvent], chain: str = "main") -> tuple[bytes, str]:
    """The uncompressed body of a segment of the current form, and its last hash."""
    parts, head = [MAGIC + b"\n", chain_line(chain, 1, GENESIS_HASH)], GENESIS_HASH
    for seq, event in enumerate(events, 1):
        data = encode_event(event)
        parts.append(record_lines(data))
        head = record_hash(chain, seq, head, data)
    parts.append(end_line(chain, len(events), head))
    return b"".join(parts), head


def test_a_segment_larger_than_a_read_reads_whole(tmp_path: Path) -> None:
    # ~25,000 records (several MB once inflated), written as two gzip members the way
    # `cat` would join them: every record read, each hash as it was chained
    body, head = _segment(_events(25_000))
    half = len(body) // 2
    packed = gzip.compress(body[:half], mtime=0) + gzip.compress(body[half:], mtime=0)
    (tmp_path / "segment-000001.audit.gz").write_bytes(packed)
    out = ArchiveRead()
    records = list(read_archive(tmp_path, out))
    assert out.problems == []
    assert [r.seq for r in records] == list(range(1, 25_001))
    assert records[-1].hash == head


def _longer(body: bytes) -> bytes:
    """`body` with the first record's length one more than its bytes."""
    return re.sub(rb"\n\+(\d+)", lambda m: b"\n+%d" % (int(m[1]) + 1), body, count=1)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda body: gzip.compress(body)[:-20], "unreadable"),  # cut short
        (lambda body: b"not gzip at all" + gzip.compress(body), "unreadable"),
        (lambda body: gzip.compress(body.replace(b"\n+", b"\n+-", 1)), "not a record length"),
        (lambda body: gzip.compress(body[: body.rindex(b"end ") - 30]), "shorter than"),
        (lambda body: gzip.compress(_longer(body)), "does not match its bytes"),
    ],
    ids=["truncated", "not-gzip", "negative-length", "cut-in-a-record", "wrong-length"],
)
def test_a_broken_segment_is_one_plain_problem(
    tmp_path: Path, damage: Callable[[bytes], bytes], said: str
) -> None:
    body, _head = _segment(_events(50))
    (tmp_path / "segment-000001.audit.gz").write_bytes(damage(body))
    out = ArchiveRead()
    list(read_archive(tmp_path, out))  # never raises
    assert len(out.problems) == 1
    assert out.problems[0].startswith("segment-000001.audit.gz: ")
    assert said in out.problems[0]


def test_an_event_whose_time_no_calendar_holds_is_refused() -> None:
    data = bytearray(encode_event(_events(1)[0]))
    assert data[1] == 0xCF  # the time, a uint64: set to the largest there is
    data[2:10] = b"\xff" * 8
    with pytest.raises(NotCanonical, match="not an audit event"):
        decode_event_strict(bytes(data))
    with pytest.raises(NotCanonical, match="not an audit event"):
        event_keys_strict(bytes(data))


def test_checkpoints_beside_no_segment_are_cleared_before_a_run(tmp_path: Path) -> None:
    # left by a run that died before its segment was on disk: the next run would put a
    # segment of that number beside them and read them twice
    body, head = _segment(_events(3))
    (tmp_path / "segment-000001.audit.gz").write_bytes(gzip.compress(body))
    (tmp_path / "segment-000001.checkpoints").write_bytes(b"[]")
    (tmp_path / "segment-000002.checkpoints").write_bytes(b'["a note"]')
    found, on_disk = scan(tmp_path)
    assert [n for n, _p in found] == [1]
    assert on_disk == {"main": (3, head)}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "segment-000001.audit.gz",
        "segment-000001.checkpoints",
    ]
