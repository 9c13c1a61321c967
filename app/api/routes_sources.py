"""Authentic sources: write entitlements one by one (the NDJSON stream: `batch`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post, put
from litestar.params import FromPath, JSONBody

from app.api.deps import client_of, require_json, services
from app.api.openapi import SOURCE, problems
from app.api.schemas import (
    StatusChangeRequest,
    UpsertRequest,
    WriteResponse,
)
from app.domain.entitlements import UpsertInput

__all__ = ["change_status", "upsert"]

_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
_CHANGE_ERRORS = problems(
    *_ERRORS,
    e403="The key is not a source's, or not for this entitlement type",
    e404="Unknown entitlement type, or no such entitlement for this person",
    e409="A concurrent update (retry)",
)


@put(
    "/v1/entitlements/{type_id:str}",
    tags=["sources"],
    before_request=require_json,
    summary="Create or update one entitlement (idempotent)",
    security=SOURCE,
    responses=problems(
        *_ERRORS,
        e409="The card number is registered to another holder, or a concurrent update (retry)",
    ),
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
    security=SOURCE,
    responses=_CHANGE_ERRORS,
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
    security=SOURCE,
    responses=_CHANGE_ERRORS,
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
    security=SOURCE,
    responses=_CHANGE_ERRORS,
    summary="Lift a revocation or suspension",
)
async def reinstate(
    request: Request[Any, Any, Any], type_id: FromPath[str], data: JSONBody[StatusChangeRequest]
) -> WriteResponse:
    return await _change(request, type_id, "reinstate", data)


change_status = (revoke, suspend, reinstate)
