"""Verifier organisations: online checks of proofs, numeric codes and parking cards."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from app.api.deps import client_of, lang_of, require_json, services
from app.api.edge.answer import JSONAnswer
from app.api.edge.metrics import LOOKUPS_LIMITED, VERIFICATIONS
from app.api.openapi import VERIFIER, problems
from app.api.schemas import CardCheckRequest, ClientView, VerifyRequest
from app.errors import InvalidInput, RateLimited
from app.tokens import VerificationResult

__all__ = ["check_card", "verify", "whoami"]

_ERRORS = (400, 401, 403, 413, 415, 422, 429, 503)
#: the answer's documented body (the handlers return it encoded: `app.api.edge.answer`)
_RESULT = ResponseSpec(
    VerificationResult, description="Request fulfilled, document follows", generate_examples=False
)


def _check(path: str, summary: str, **why: str) -> post:
    """A verifier's check: a JSON request in, a verification result out (200); `why`
    describes its error answers as `problems` does."""
    return post(
        path,
        tags=["verifiers"],
        before_request=require_json,
        status_code=200,
        summary=summary,
        security=VERIFIER,
        responses={200: _RESULT, **problems(*_ERRORS, **why)},
    )


@_check(
    "/v1/verify",
    "Verify a proof (token) or a numeric code online",
    e403="The key is not a verifier's",
    e422="Neither or both of token and code, or a code with a wrong check digit",
    e429="Too many requests: the service sheds load, or this verifier sent too many "
    "wrong codes; retry after Retry-After seconds",
)
async def verify(request: Request[Any, Any, Any], data: JSONBody[VerifyRequest]) -> JSONAnswer:
    svc = services(request)
    client = await client_of(request)
    if (data.token is None) == (data.code is None):
        raise InvalidInput("send exactly one of token or code")
    now = svc.clock.now()
    if data.token is not None:
        result = await svc.verification.verify_token(client, data.token, now, lang_of(request))
    else:
        assert data.code is not None
        try:
            result = await svc.verification.verify_code(client, data.code, now, lang_of(request))
        except RateLimited:
            LOOKUPS_LIMITED.inc("code")
            raise
    kind = "token" if data.token is not None else "code"
    VERIFICATIONS.inc(kind, result.result, result.reason or "")
    return JSONAnswer(result)


@_check(
    "/v1/parking-cards/check",
    "Is this parking card valid? (police, parking attendants)",
    e403="The key is not a verifier's for parking cards",
    e422="A card number is 10 digits",
)
async def check_card(
    request: Request[Any, Any, Any], data: JSONBody[CardCheckRequest]
) -> JSONAnswer:
    svc = services(request)
    client = await client_of(request)
    try:
        result = await svc.verification.check_card(
            client, data.card_number, svc.clock.now(), lang_of(request)
        )
    except RateLimited:
        LOOKUPS_LIMITED.inc("card")
        raise
    VERIFICATIONS.inc("card", result.result, result.reason or "")
    return JSONAnswer(result)


@get("/v1/clients/me", tags=["verifiers"], summary="Who this API key is (setting up a device)")
async def whoami(request: Request[Any, Any, Any]) -> ClientView:
    """The client behind the key: a device checks the key it was given with this before
    keeping it, and learns which types it may check offline."""
    client = await client_of(request)
    return ClientView(
        id=client.id,
        name=client.name,
        role=client.role,
        types=list(client.types),
        org=client.org_id,
        label=client.label,
    )
