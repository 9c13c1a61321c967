"""Authentic sources: write entitlements one by one or as an NDJSON stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, asgi, post, put
from litestar.exceptions import HTTPException, MethodNotAllowedException
from litestar.params import FromPath, JSONBody
from litestar.types import Receive, Scope, Send

from app.api.deps import client_of, require_json, require_ndjson, services
from app.api.schemas import (
    BatchLine,
    BatchResult,
    StatusChangeRequest,
    UpsertRequest,
    WriteResponse,
)
from app.api.state import Services
from app.domain.entitlements import UpsertInput, WriteResult
from app.domain.records import ClientRecord
from app.errors import DomainError, StoreError

__all__ = ["batch", "change_status", "upsert"]

log = logging.getLogger("statuspass.batch")
MAX_LINE = 64 * 1024
#: lines applied together (one store transaction / a few round trips per chunk)
CHUNK = 500
_dec = msgspec.json.Decoder(BatchLine)
_enc = msgspec.json.Encoder()


@put(
    "/v1/entitlements/{type_id:str}",
    tags=["sources"],
    before_request=require_json,
    summary="Create or update one entitlement (idempotent)",
)
async def upsert(
    request: Request[Any, Any, Any], type_id: FromPath[str], data: JSONBody[UpsertRequest]
) -> WriteResponse:
    svc = services(request)
    client = await client_of(request)
    res = await svc.entitlements.upsert(
        client,
        type_id,
        UpsertInput(
            nrn=data.nrn,
            holder=data.holder.to_holder(),
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            attributes=dict(data.attributes),
        ),
        svc.clock.now(),
    )
    return WriteResponse(type=res.type, outcome=res.outcome, status=res.status)


async def _change(
    request: Request[Any, Any, Any],
    type_id: FromPath[str],
    action: str,
    data: JSONBody[StatusChangeRequest],
) -> WriteResponse:
    svc = services(request)
    client = await client_of(request)
    res = await svc.entitlements.change_status(
        client, type_id, action, data.nrn, data.reason, svc.clock.now()
    )
    return WriteResponse(type=res.type, outcome=res.outcome, status=res.status)


@post(
    "/v1/entitlements/{type_id:str}/revoke",
    tags=["sources"],
    before_request=require_json,
    status_code=200,
    summary="Revoke: every proof of it becomes invalid at once",
)
async def revoke(
    request: Request[Any, Any, Any], type_id: FromPath[str], data: JSONBody[StatusChangeRequest]
) -> WriteResponse:
    return await _change(request, type_id, "revoke", data)


@post(
    "/v1/entitlements/{type_id:str}/suspend",
    tags=["sources"],
    before_request=require_json,
    status_code=200,
    summary="Suspend until reinstated",
)
async def suspend(
    request: Request[Any, Any, Any], type_id: FromPath[str], data: JSONBody[StatusChangeRequest]
) -> WriteResponse:
    return await _change(request, type_id, "suspend", data)


@post(
    "/v1/entitlements/{type_id:str}/reinstate",
    tags=["sources"],
    before_request=require_json,
    status_code=200,
    summary="Lift a revocation or suspension",
)
async def reinstate(
    request: Request[Any, Any, Any], type_id: FromPath[str], data: JSONBody[StatusChangeRequest]
) -> WriteResponse:
    return await _change(request, type_id, "reinstate", data)


change_status = (revoke, suspend, reinstate)


class BatchTooLarge(Exception):
    """The batch body exceeded the configured size."""


async def _chunks(receive: Any, limit: int) -> AsyncIterator[bytes]:
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


async def _line_chunks(
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
    try:
        async for group in _line_chunks(_chunks(receive, limit), CHUNK):
            results = await _apply_group(svc, client, group)
            ok += sum(r.ok for r in results)
            failed += sum(not r.ok for r in results)
            body = b"".join(_enc.encode(r) + b"\n" for r in results)
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except BatchTooLarge:
        complete = False
        error = {
            "error": "body-too-large",
            "detail": f"a batch is at most {limit} bytes; "
            "the lines above were applied, send the rest separately",
        }
        await send(
            {"type": "http.response.body", "body": _enc.encode(error) + b"\n", "more_body": True}
        )
    log.info("batch by %s: %d ok, %d failed", client.id, ok, failed)
    summary = {"lines": ok + failed, "ok": ok, "failed": failed, "complete": complete}
    await send(
        {
            "type": "http.response.body",
            "body": _enc.encode({"summary": summary}) + b"\n",
            "more_body": False,
        }
    )


async def _apply_group(
    svc: Services, client: ClientRecord, group: list[tuple[int, bytes | None]]
) -> list[BatchResult]:
    """Apply a group of lines in order: runs of upserts in bulk, status changes singly."""
    now = svc.clock.now()
    out: dict[int, BatchResult] = {}
    run: list[tuple[int, BatchLine]] = []

    async def flush() -> None:
        if not run:
            return
        items = [(line.type, _upsert_input(line)) for _, line in run]
        try:
            outcomes = await svc.bulk.upsert_many(client, items, now)
        except StoreError as exc:
            for number, line in run:
                out[number] = BatchResult(
                    line=number,
                    ok=False,
                    id=line.id,
                    error="store-unavailable",
                    detail=type(exc).__name__,
                )
        else:
            for (number, line), res in zip(run, outcomes, strict=True):
                out[number] = _result(number, line, res)
        run.clear()

    for number, raw in group:
        line = _decode(number, raw, out)
        if line is None:
            continue
        if line.op == "upsert":
            if line.holder is None or line.valid_from is None or line.valid_until is None:
                out[number] = BatchResult(
                    line=number,
                    ok=False,
                    id=line.id,
                    error="malformed",
                    detail="upsert needs holder, valid_from and valid_until",
                )
            else:
                run.append((number, line))
            continue
        await flush()
        try:
            res: WriteResult | DomainError = await svc.entitlements.change_status(
                client, line.type, line.op, line.nrn, line.reason, now
            )
        except DomainError as exc:
            res = exc
        except StoreError as exc:
            out[number] = BatchResult(
                line=number,
                ok=False,
                id=line.id,
                error="store-unavailable",
                detail=type(exc).__name__,
            )
            continue
        out[number] = _result(number, line, res)
    await flush()
    return [out[number] for number, _ in group]


def _decode(number: int, raw: bytes | None, out: dict[int, BatchResult]) -> BatchLine | None:
    if raw is None:
        out[number] = BatchResult(
            line=number,
            ok=False,
            error="line-too-long",
            detail=f"a line is at most {MAX_LINE} bytes",
        )
        return None
    try:
        return _dec.decode(raw)
    except msgspec.DecodeError as exc:
        out[number] = BatchResult(line=number, ok=False, error="malformed", detail=str(exc))
        return None


def _upsert_input(line: BatchLine) -> UpsertInput:
    assert line.holder is not None and line.valid_from and line.valid_until
    return UpsertInput(
        nrn=line.nrn,
        holder=line.holder.to_holder(),
        valid_from=line.valid_from,
        valid_until=line.valid_until,
        attributes=dict(line.attributes),
    )


def _result(number: int, line: BatchLine, res: WriteResult | DomainError) -> BatchResult:
    if isinstance(res, DomainError):
        return BatchResult(
            line=number, ok=False, id=line.id, error=type(res).__name__, detail=res.detail
        )
    return BatchResult(line=number, ok=True, id=line.id, outcome=res.outcome, status=res.status)
