"""Archive segments: binary events with their lengths, and the JSON lines of the first
format, read the same."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.audit.format import decode_event_strict, record_hash
from app.audit.segments import MAGIC_V1, ArchiveRead, read_archive
from app.domain.events import GENESIS_HASH, encode_event_legacy
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
