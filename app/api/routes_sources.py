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
from app.domain.entitlements import UpsertInput
from app.errors import DomainError, StoreError

__all__ = ["batch", "change_status", "upsert"]

log = logging.getLogger("statuspass.batch")
MAX_LINE = 64 * 1024
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


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """Split the body stream into numbered lines; an overlong line yields None."""
    buf = bytearray()
    number = 0
    overlong = False
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
                yield number, None
            elif line:
                yield number, line
    if buf.strip() or overlong:
        yield number + 1, None if overlong else bytes(buf).strip()


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
        async for number, raw in _lines(_chunks(receive, limit)):
            res = await _apply(svc, client, number, raw)
            ok, failed = (ok + 1, failed) if res.ok else (ok, failed + 1)
            await send(
                {"type": "http.response.body", "body": _enc.encode(res) + b"\n", "more_body": True}
            )
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


async def _apply(svc: Any, client: Any, number: int, raw: bytes | None) -> BatchResult:
    if raw is None:
        return BatchResult(
            line=number,
            ok=False,
            error="line-too-long",
            detail=f"a line is at most {MAX_LINE} bytes",
        )
    try:
        line = _dec.decode(raw)
    except msgspec.DecodeError as exc:
        return BatchResult(line=number, ok=False, error="malformed", detail=str(exc))
    now = svc.clock.now()
    try:
        if line.op == "upsert":
            if line.holder is None or line.valid_from is None or line.valid_until is None:
                return BatchResult(
                    line=number,
                    ok=False,
                    id=line.id,
                    error="malformed",
                    detail="upsert needs holder, valid_from and valid_until",
                )
            res = await svc.entitlements.upsert(
                client,
                line.type,
                UpsertInput(
                    nrn=line.nrn,
                    holder=line.holder.to_holder(),
                    valid_from=line.valid_from,
                    valid_until=line.valid_until,
                    attributes=dict(line.attributes),
                ),
                now,
            )
        else:
            res = await svc.entitlements.change_status(
                client, line.type, line.op, line.nrn, line.reason, now
            )
    except DomainError as exc:
        return BatchResult(
            line=number, ok=False, id=line.id, error=type(exc).__name__, detail=exc.detail
        )
    except StoreError as exc:
        return BatchResult(
            line=number, ok=False, id=line.id, error="store-unavailable", detail=type(exc).__name__
        )
    return BatchResult(line=number, ok=True, id=line.id, outcome=res.outcome, status=res.status)
