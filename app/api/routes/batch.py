"""`POST /v1/entitlements:batch`: an NDJSON stream of upserts and status changes, applied
in chunks, answered line by line while the request is still arriving.

A chunk goes through two phases: decoding (pure: JSON, field checks, the keys it
writes) and applying (the store). Up to `DEPTH` chunks are applied at once when they
write disjoint keys, so the service prepares and encodes one chunk while the store
writes the one before: on Redis the two processes then work side by side instead of
taking turns. A chunk that shares a key with one in flight waits for it, so every
entitlement sees its lines applied in the order they were sent, and results are sent
strictly in input order: a result line is only ever sent once its write has landed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import msgspec
from litestar import Request, asgi
from litestar.exceptions import HTTPException, MethodNotAllowedException
from litestar.types import Receive, Scope, Send

from app.api.deps import client_of, require_ndjson, services
from app.api.routes.batch_lines import (
    CHUNK,
    MAX_LINE,
    BatchTooLarge,
    Decoded,
    body_chunks,
    decode_chunk,
    line_chunks,
    result_line,
)
from app.api.schemas import (
    BatchLine,
    BatchResult,
    BatchSummary,
    BatchSummaryLine,
    BatchTruncated,
)
from app.api.state import Services
from app.domain.entitlements import UpsertInput, WriteResult
from app.domain.records import ClientRecord
from app.errors import DomainError, StoreError

__all__ = ["CHUNK", "DEPTH", "MAX_LINE", "batch"]

log = logging.getLogger("statuspass.batch")
#: chunks applied at once (when their keys are disjoint). Each chunk takes three round
#: trips in turn (read, allocate, write); with three in flight the service always has
#: one to prepare while Redis works on the others (bench/ingest.py, alternated rounds on
#: one VM: 15.4k lines/s at 2, 18.0k at 3, 16.4k at 4, medians of 3)
DEPTH = 3
_enc = msgspec.json.Encoder()


@asgi("/v1/entitlements:batch", is_mount=False, copy_scope=False)
async def batch(scope: Scope, receive: Receive, send: Send) -> None:
    """NDJSON stream of upserts and status changes (``application/x-ndjson``).

    One result line per input line, in order, sent as each is applied (progress for the
    sender); a bad line gets an error line and never blocks the good ones; the last line
    is a summary. Lines are applied as they arrive, so a broken connection keeps what was
    acknowledged, and re-sending the batch is idempotent.

    A raw ASGI handler because it is full duplex: it reads the request while it writes
    the response, which a framework streaming response (listening on `receive` for a
    disconnect) would not allow.
    """
    request: Request[Any, Any, Any] = Request(scope, receive)
    if request.method != "POST":
        raise MethodNotAllowedException(detail="use POST")
    await require_ndjson(request)
    svc = services(request)
    client = await client_of(request)
    limit = svc.settings.max_batch_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"a batch is at most {limit} bytes")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/x-ndjson"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    ok = failed = 0
    complete = True
    in_flight: deque[tuple[asyncio.Task[list[BatchResult]], set[tuple[str, str]]]] = deque()

    async def answer_oldest() -> None:
        nonlocal ok, failed
        task, _ = in_flight.popleft()
        results = await task
        ok += sum(r.ok for r in results)
        failed += sum(not r.ok for r in results)
        body = b"".join(_enc.encode(r) + b"\n" for r in results)
        await send({"type": "http.response.body", "body": body, "more_body": True})

    try:
        async for group in line_chunks(body_chunks(receive, limit), CHUNK):
            decoded = decode_chunk(group)
            while in_flight and (
                len(in_flight) >= DEPTH or any(decoded.keys & keys for _, keys in in_flight)
            ):
                await answer_oldest()
            task = asyncio.create_task(_apply_group(svc, client, decoded))
            in_flight.append((task, decoded.keys))
        while in_flight:
            await answer_oldest()
    except BatchTooLarge:
        while in_flight:  # the lines before the limit are applied and answered
            await answer_oldest()
        complete = False
        error = BatchTruncated(
            error="body-too-large",
            detail=f"a batch is at most {limit} bytes; "
            "the lines above were applied, send the rest separately",
        )
        await send(
            {"type": "http.response.body", "body": _enc.encode(error) + b"\n", "more_body": True}
        )
    finally:
        # only on an error or a cancelled request: writes in flight may land or not,
        # and nothing about them was acknowledged
        for task, _ in in_flight:
            task.cancel()
    log.info("batch by %s: %d ok, %d failed", client.id, ok, failed)
    summary = BatchSummary(lines=ok + failed, ok=ok, failed=failed, complete=complete)
    await send(
        {
            "type": "http.response.body",
            "body": _enc.encode(BatchSummaryLine(summary=summary)) + b"\n",
            "more_body": False,
        }
    )


async def _apply_group(svc: Services, client: ClientRecord, decoded: Decoded) -> list[BatchResult]:
    """Apply a chunk's lines in order: runs of upserts in bulk, status changes singly."""
    now = svc.clock.now()
    out = dict(decoded.answered)
    run: list[tuple[int, BatchLine, UpsertInput]] = []

    def store_failed(number: int, line: BatchLine, exc: StoreError) -> BatchResult:
        return BatchResult(
            line=number,
            ok=False,
            id=line.id,
            error="store-unavailable",
            detail=type(exc).__name__,
        )

    async def flush() -> None:
        if not run:
            return
        items = [(line.type, data) for _, line, data in run]
        try:
            outcomes = await svc.bulk.upsert_many(client, items, now)
        except StoreError as exc:
            for number, line, _ in run:
                out[number] = store_failed(number, line, exc)
        else:
            for (number, line, _), res in zip(run, outcomes, strict=True):
                out[number] = result_line(number, line, res)
        run.clear()

    for number, line, data in decoded.lines:
        if data is not None:
            run.append((number, line, data))
            continue
        await flush()
        try:
            res: WriteResult | DomainError = await svc.entitlements.change_status(
                client, line.type, line.op, line.nrn, line.reason, now
            )
        except DomainError as exc:
            res = exc
        except StoreError as exc:
            out[number] = store_failed(number, line, exc)
            continue
        out[number] = result_line(number, line, res)
    await flush()
    return [out[number] for number in decoded.numbers]
