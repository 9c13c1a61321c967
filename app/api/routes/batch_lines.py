"""The request side of the batch stream: the body read from ASGI as numbered lines in
chunks (`body_chunks`, `line_chunks`), and each chunk decoded without I/O
(`decode_chunk`): JSON, the fields an operation needs, dates, and the keys its writes
touch. Also the answer line of one input line (`result_line`), which decoding needs for
the lines it refuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.api.problems import line_error
from app.api.schemas import BatchLine, BatchResult
from app.domain.dates import parse_instant
from app.domain.entitlements import UpsertInput, WriteResult
from app.errors import DomainError, InvalidInput
from app.tokens import strip_separators

__all__ = [
    "CHUNK",
    "MAX_LINE",
    "BatchTooLarge",
    "Decoded",
    "body_chunks",
    "decode_chunk",
    "line_chunks",
    "result_line",
]

MAX_LINE = 64 * 1024
#: lines applied together (one store transaction / a few round trips per chunk)
CHUNK = 500
_dec = msgspec.json.Decoder(BatchLine)


class BatchTooLarge(Exception):
    """The batch body exceeded the configured size."""


async def body_chunks(receive: Any, limit: int) -> AsyncIterator[bytes]:
    """The request body straight from ASGI `receive`, with the size limit enforced.

    Read inside the streamed response (so results flow back while lines arrive), where
    Litestar's own `request.stream()` is no longer usable.
    """
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body = message.get("body", b"")
        total += len(body)
        if total > limit:
            raise BatchTooLarge
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def line_chunks(
    chunks: AsyncIterator[bytes], most: int
) -> AsyncIterator[list[tuple[int, bytes | None]]]:
    """Numbered lines, in groups: every complete line of each body message received, at
    most `most` per group (an overlong line is None). A sender that waits for results
    line by line still gets them at once; a bulk sender gets chunks."""
    buf = bytearray()
    number = 0
    overlong = False
    group: list[tuple[int, bytes | None]] = []
    async for chunk in chunks:
        buf += chunk
        while True:
            cut = buf.find(b"\n")
            if cut < 0:
                if len(buf) > MAX_LINE:
                    overlong = True
                    buf.clear()
                break
            line = bytes(buf[:cut]).strip()
            del buf[: cut + 1]
            number += 1
            if overlong:
                overlong = False
                group.append((number, None))
            elif line:
                group.append((number, line))
            if len(group) >= most:
                yield group
                group = []
        if group:
            yield group
            group = []
    if buf.strip() or overlong:
        yield [(number + 1, None if overlong else bytes(buf).strip())]


@dataclass(slots=True)
class Decoded:
    """A chunk after the pure phase."""

    numbers: list[int] = field(default_factory=list)  # every line, in order
    answered: dict[int, BatchResult] = field(default_factory=dict)  # rejected already
    #: to apply, in order; an upsert with its input (dates parsed), a status change with None
    lines: list[tuple[int, BatchLine, UpsertInput | None]] = field(default_factory=list)
    #: what applying may write: (type, NRN digits) and ("card", number); a superset is
    #: harmless (it only makes a chunk wait), a missing key would reorder writes
    keys: set[tuple[str, str]] = field(default_factory=set)


def decode_chunk(group: list[tuple[int, bytes | None]]) -> Decoded:
    out = Decoded()
    for number, raw in group:
        out.numbers.append(number)
        if raw is None:
            out.answered[number] = BatchResult(
                line=number,
                ok=False,
                error="line-too-long",
                detail=f"a line is at most {MAX_LINE} bytes",
            )
            continue
        try:
            line = _dec.decode(raw)
        except msgspec.DecodeError as exc:
            out.answered[number] = BatchResult(
                line=number, ok=False, error="malformed", detail=str(exc)
            )
            continue
        if line.op == "upsert" and (
            line.holder is None or line.valid_from is None or line.valid_until is None
        ):
            out.answered[number] = BatchResult(
                line=number,
                ok=False,
                id=line.id,
                error="malformed",
                detail="upsert needs holder, valid_from and valid_until",
            )
            continue
        data = None
        if line.op == "upsert":
            try:
                data = upsert_input(line)
            except InvalidInput as exc:  # a bad date: answered as the domain would
                out.answered[number] = result_line(number, line, exc)
                continue
        out.lines.append((number, line, data))
        out.keys.add((line.type, strip_separators(line.nrn)))
        card = line.attributes.get("card_number")
        if card is not None:
            out.keys.add(("card", card))
    return out


def upsert_input(line: BatchLine) -> UpsertInput:
    """The domain's input for an upsert line (its dates parsed: InvalidInput if wrong)."""
    assert line.holder is not None and line.valid_from and line.valid_until
    return UpsertInput(
        nrn=line.nrn,
        holder=line.holder.to_holder(),
        valid_from=parse_instant(line.valid_from, "valid_from"),
        valid_until=parse_instant(line.valid_until, "valid_until"),
        attributes=dict(line.attributes),
    )


def result_line(number: int, line: BatchLine, res: WriteResult | DomainError) -> BatchResult:
    if isinstance(res, DomainError):
        return BatchResult(
            line=number, ok=False, id=line.id, error=line_error(res), detail=res.detail
        )
    return BatchResult(line=number, ok=True, id=line.id, outcome=res.outcome, status=res.status)
