"""Authentic sources: write entitlements one by one (the NDJSON stream: `batch`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from app.api.deps import client_of, require_json, services
from app.api.openapi import SOURCE, problems
from app.api.schemas import (
    StatusChangeRequest,
    UpsertRequest,
    WriteResponse,
)
from app.domain.dates import parse_instant
from app.domain.entitlements import UpsertInput

__all__ = ["change_status", "upsert"]

_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
_CHANGE_ERRORS = problems(
    *_ERRORS,
    e403="The key is not a source's, or not for this entitlement type",
    e404="Unknown entitlement type, or no such entitlement for this person",
    e409="A concurrent update (retry)",
)


_UPSERT_DESCRIPTION = """\
Idempotent: sending the same entitlement again changes nothing (`outcome: unchanged`).

Answers **201 Created** when the entitlement did not exist, **200 OK** when it was updated
or unchanged (`outcome` says which).

`valid_from` and `valid_until` are RFC 3339 date-times with an offset
(`2027-12-31T23:59:59+01:00`), between 1900-01-01 and 2999-12-31; `valid_until` is
exclusive. Anything else (no offset, week dates, basic format, other years) is a 422
naming the field.

A parking card's validity is the entitlement's `valid_until`, sent once: every proof
carries its last day as `card_valid_until` and never lives past it. A source may still
send `attributes.card_valid_until` (`YYYY-MM-DD`); it must then be that same last day,
or the request is refused with a 422.
"""


@put(
    "/v1/entitlements/{type_id:str}",
    tags=["sources"],
    before_request=require_json,
    summary="Create or update one entitlement (idempotent)",
    description=_UPSERT_DESCRIPTION,
    security=SOURCE,
    status_code=200,
    response_description="Updated, or unchanged",
    responses={
        201: ResponseSpec(WriteResponse, description="Created"),
        **problems(
            *_ERRORS,
            e409="The card number is registered to another holder, or a concurrent update (retry)",
            e422="A field is wrong: the NRN, a name, an attribute, a date (its form or "
            "range), or a card_valid_until that is not the last day of valid_until",
        ),
    },
)
async def upsert(
    request: Request[Any, Any, Any], type_id: FromPath[str], data: JSONBody[UpsertRequest]
) -> Response[WriteResponse]:
    svc = services(request)
    client = await client_of(request)
    res = await svc.entitlements.upsert(
        client,
        type_id,
        UpsertInput(
            nrn=data.nrn,
            holder=data.holder.to_holder(),
            valid_from=parse_instant(data.valid_from, "valid_from"),
            valid_until=parse_instant(data.valid_until, "valid_until"),
            attributes=dict(data.attributes),
        ),
        svc.clock.now(),
    )
    return Response(
        WriteResponse(type=res.type, outcome=res.outcome, status=res.status),
        status_code=201 if res.outcome == "created" else 200,
    )


def _status_route(action: str, summary: str) -> HTTPRouteHandler:
    """`POST /v1/entitlements/{type}/{action}`: the three status changes differ only in
    their action and summary."""

    async def change(
        request: Request[Any, Any, Any],
        type_id: FromPath[str],
        data: JSONBody[StatusChangeRequest],
    ) -> WriteResponse:
        svc = services(request)
        client = await client_of(request)
        res = await svc.entitlements.change_status(
            client, type_id, action, data.nrn, data.reason, svc.clock.now()
        )
        return WriteResponse(type=res.type, outcome=res.outcome, status=res.status)

    change.__name__ = change.__qualname__ = action  # the OpenAPI operationId ends with it
    return post(
        f"/v1/entitlements/{{type_id:str}}/{action}",
        tags=["sources"],
        before_request=require_json,
        status_code=200,
        security=SOURCE,
        responses=_CHANGE_ERRORS,
        summary=summary,
    )(change)


change_status = (
    _status_route("revoke", "Revoke: every proof of it becomes invalid at once"),
    _status_route("suspend", "Suspend until reinstated"),
    _status_route("reinstate", "Lift a revocation or suspension"),
)
