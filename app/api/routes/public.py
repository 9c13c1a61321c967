"""Public endpoints: keys, issuer metadata, status lists, health and readiness."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from app.api.deps import services
from app.api.edge.answer import conditional
from app.api.edge.hygiene import CORS_OPT
from app.api.openapi import problems
from app.api.problems import problem
from app.api.schemas import EntitlementTypeInfo, IssuerMetadata, JwkSet, StatusListIndex
from app.api.state import Services
from app.domain.registry import public_types
from app.errors import StoreUnavailable
from app.tokens import PROOF_TYP

__all__ = [
    "audit_key",
    "health",
    "issuer_metadata",
    "jwks",
    "ready",
    "status_list",
    "status_list_index",
]

_enc = msgspec.json.Encoder()
STATUS_LIST_MEDIA = "application/statuslist+jwt"
#: conditional GETs of the public documents (`If-None-Match` with the ETag)
_NOT_MODIFIED = ResponseSpec(None, description="Not modified since the ETag sent")


def _document(path: str, **kwargs: Any) -> get:
    """A public document: readable from any origin (CORS), answered conditionally."""
    return get(path, tags=["public"], opt={CORS_OPT: True}, **kwargs)


@_document(
    "/.well-known/jwks.json",
    summary="Signing public keys",
    sync_to_thread=False,
    media_type="application/jwk-set+json",
    responses={
        200: ResponseSpec(JwkSet, description="The keys", media_type="application/jwk-set+json"),
        304: _NOT_MODIFIED,
        **problems(429),
    },
)
def jwks(request: Request[Any, Any, Any]) -> Response[bytes]:
    svc = services(request)
    body, etag = svc.keys.jwks_bytes(svc.clock.now())
    return conditional(request, body, "application/jwk-set+json", 300, etag)


@_document(
    "/.well-known/statuspass-audit-key",
    summary="Audit checkpoint verifier keys",
    sync_to_thread=False,
    media_type="text/plain",
    responses={304: _NOT_MODIFIED, **problems(429)},
)
def audit_key(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The keys that sign audit checkpoints, one signed-note verifier key per line
    (`name+keyid+base64`), the active one first, then every retired one: old checkpoints
    must still verify. Not in the JWKS on purpose: no proof verifier may ever accept
    something signed with them, nor an audit verifier a proof key."""
    entries = services(request).audit_keys.entries
    ordered = sorted(entries, key=lambda e: e.state != "active")
    body = "".join(f"{e.verifier_key()}\n" for e in ordered).encode()
    return conditional(request, body, "text/plain; charset=utf-8", 300)


@_document(
    "/.well-known/statuspass",
    summary="Issuer metadata",
    sync_to_thread=False,
    responses={
        200: ResponseSpec(IssuerMetadata, description="The issuer", generate_examples=False),
        304: _NOT_MODIFIED,
        **problems(429),
    },
)
def issuer_metadata(request: Request[Any, Any, Any]) -> Response[bytes]:
    svc = services(request)
    cached: tuple[bytes, str] | None = getattr(request.app.state, "metadata", None)
    if cached is None:  # fixed for the life of the worker: build it once
        body = _enc.encode(_metadata(svc))
        cached = (body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        request.app.state.metadata = cached
    return conditional(request, cached[0], "application/json", 3600, cached[1])


def _metadata(svc: Services) -> IssuerMetadata:
    s = svc.settings
    return IssuerMetadata(
        issuer=s.issuer,
        jwks_uri=f"{s.issuer.rstrip('/')}/.well-known/jwks.json",
        audit_key_uri=f"{s.issuer.rstrip('/')}/.well-known/statuspass-audit-key",
        status_list_base=s.status_list_base,
        proof_typ=PROOF_TYP,
        signing_algorithms=["ES256", "EdDSA"],
        default_proof_lifetime_s=s.default_proof_lifetime_s,
        clock_skew_s=s.clock_skew_s,
        status_list_ttl_s=s.status_list_ttl_s,
        # the same description the test vectors carry for the browser's verifier
        entitlement_types=msgspec.convert(public_types(svc.registry), list[EntitlementTypeInfo]),
    )


@_document(
    "/v1/status-lists",
    summary="The URIs of the status lists published",
    responses={
        200: ResponseSpec(StatusListIndex, description="Every list, oldest first"),
        304: _NOT_MODIFIED,
        **problems(429, 503),
    },
)
async def status_list_index(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every list an offline verifier may need, so it can keep them all (and a fetch of
    all of them says nothing about whom it checks)."""
    svc = services(request)
    ids = sorted(await svc.store.status_list_ids(), key=lambda i: (len(i), i))
    base = svc.settings.status_list_base
    body = _enc.encode(StatusListIndex(status_lists=[base + list_id for list_id in ids]))
    max_age = max(1, svc.settings.status_list_ttl_s // 4)
    return conditional(request, body, "application/json", max_age)


@_document(
    "/v1/status-lists/{list_id:str}",
    summary="A signed status list",
    media_type=STATUS_LIST_MEDIA,
    responses={
        200: ResponseSpec(
            str,
            description="The status list token (IETF Token Status List): a compact JWS",
            media_type=STATUS_LIST_MEDIA,
            generate_examples=False,
        ),
        304: _NOT_MODIFIED,
        **problems(400, 404, 429, 503, e400="Malformed request", e404="No such status list"),
    },
)
async def status_list(request: Request[Any, Any, Any], list_id: FromPath[str]) -> Response[bytes]:
    svc = services(request)
    now = svc.clock.now()
    if len(list_id) > 20 or not list_id.isascii() or not list_id.isdigit():
        raise NotFoundException(detail="no such status list")
    try:
        published = svc.status_lists.fresh(list_id, now) or await svc.status_lists.get(list_id, now)
    except StoreUnavailable:
        # the last list we published is still signed and within its exp: keep serving it
        published = svc.status_lists.last_published(list_id)
        if published is None:
            raise
    if published is None:
        raise NotFoundException(detail="no such status list")
    return conditional(
        request,
        published.token,
        STATUS_LIST_MEDIA,
        svc.status_lists.max_age(published, now),
        published.etag,
    )


@get("/health", tags=["operations"], summary="Liveness", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    tags=["operations"],
    summary="Readiness: store and keys",
    responses=problems(503, e503="Not ready: the data store does not answer"),
)
async def ready(request: Request[Any, Any, Any]) -> Response[Any]:
    svc = services(request)
    try:
        await svc.store.ping()
        svc.keys.signing_key()
    except StoreUnavailable:
        return problem(
            503, "not-ready", "Not ready", "the data store does not answer", {"Retry-After": "5"}
        )
    return Response({"status": "ready"})
