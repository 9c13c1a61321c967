"""Citizens: their own rights, proofs of them, and who checked those proofs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from app.api.deps import citizen_of, lang_of, require_json, services
from app.api.edge.answer import JSONAnswer
from app.api.edge.metrics import ISSUED
from app.api.openapi import CITIZEN, problems
from app.api.schemas import (
    EntitlementList,
    EntitlementView,
    ProofRequest,
    ProofResponse,
    VerificationList,
    VerificationView,
)
from app.domain.entitlements import STATUS_NAMES
from app.domain.validity import proof_attributes

__all__ = ["my_entitlements", "my_proof", "my_verifications"]


def _read(path: str, summary: str) -> get:
    """A citizen's read of their own records (signed in as a citizen)."""
    return get(
        path,
        tags=["citizens"],
        summary=summary,
        security=CITIZEN,
        responses=problems(401, 429, 503),
    )


@_read("/v1/me/entitlements", "My rights, with validity and status")
async def my_entitlements(request: Request[Any, Any, Any]) -> EntitlementList:
    svc = services(request)
    subject = await citizen_of(request)
    now: datetime = svc.clock.now()
    lang = lang_of(request)
    rows = await svc.entitlements.for_subject(subject)
    return EntitlementList(
        entitlements=[
            EntitlementView(
                type=e.type,
                label=svc.registry.get(e.type).label(lang),
                status=STATUS_NAMES[e.status],
                valid_from=e.valid_from,
                valid_until=e.valid_until,
                current=e.status == 0 and e.valid_from <= now < e.valid_until,
                attributes=proof_attributes(svc.registry.get(e.type), e),
            )
            for e in sorted(rows, key=lambda e: e.type)
            if e.type in svc.registry
        ]
    )


#: the proof's documented body (the handler returns it encoded: `app.api.edge.answer`)
_PROOF = ResponseSpec(
    ProofResponse, description="Document created, URL follows", generate_examples=False
)


@post(
    "/v1/me/proofs",
    tags=["citizens"],
    before_request=require_json,
    status_code=201,
    summary="A signed proof of one of my current rights, with QR and numeric code",
    security=CITIZEN,
    responses={
        201: _PROOF,
        **problems(
            400,
            401,
            404,
            409,
            413,
            415,
            422,
            429,
            503,
            e404="Unknown entitlement type, or I hold no such entitlement",
            e409="My entitlement is not active or not valid now",
        ),
    },
)
async def my_proof(request: Request[Any, Any, Any], data: JSONBody[ProofRequest]) -> JSONAnswer:
    svc = services(request)
    subject = await citizen_of(request, svc)
    issued = await svc.proofs.issue(
        subject, data.type, lifetime_s=data.lifetime_s, qr=data.qr, now=svc.clock.now()
    )
    ISSUED.inc(data.type)
    proof = ProofResponse(
        token=issued.token,
        jti=issued.jti,
        code=issued.code,
        qr_version=issued.qr_version,
        expires_at=issued.expires_at,
        qr_svg=issued.qr_svg,
        qr_png_base64=base64.b64encode(issued.qr_png).decode() if issued.qr_png else None,
    )
    # encoded here, not by Litestar's response layer (`app.api.edge.answer`): issuance is the
    # citizens' hot path, and a proof carries no type msgspec cannot encode itself
    return JSONAnswer(proof, status=201)


@_read("/v1/me/verifications", "Who checked my proofs")
async def my_verifications(request: Request[Any, Any, Any]) -> VerificationList:
    svc = services(request)
    subject = await citizen_of(request)
    events = await svc.store.verifications_for(subject, 200)
    archived = await svc.store.audit_archived()
    cut = max((before for _upto, _hash, before in archived.values()), default=None)
    return VerificationList(
        since=None
        if cut is None
        else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=cut),
        verifications=[
            VerificationView(
                organisation=e.org or e.actor,
                type=e.type,
                at=e.at,
                result=e.result,
                reason=e.reason,
                verification_id=e.verification_id,
            )
            for e in events
        ],
    )
