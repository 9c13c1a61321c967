"""Public endpoints: keys, issuer metadata, status lists, health and readiness."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from app.api.deps import services
from app.api.problems import problem
from app.api.state import Services
from app.domain.registry import public_types
from app.errors import StoreUnavailable

__all__ = ["health", "issuer_metadata", "jwks", "ready", "status_list", "status_list_index"]

_enc = msgspec.json.Encoder()


def _cached(
    request: Request[Any, Any, Any], body: bytes, media: str, max_age: int, etag: str | None = None
) -> Response[bytes]:
    etag = etag or f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


@get("/.well-known/jwks.json", tags=["public"], summary="Signing public keys", sync_to_thread=False)
def jwks(request: Request[Any, Any, Any]) -> Response[bytes]:
    svc = services(request)
    body, etag = svc.keys.jwks_bytes(svc.clock.now())
    return _cached(request, body, "application/jwk-set+json", 300, etag)


@get("/.well-known/statuspass", tags=["public"], summary="Issuer metadata", sync_to_thread=False)
def issuer_metadata(request: Request[Any, Any, Any]) -> Response[bytes]:
    svc = services(request)
    cached: tuple[bytes, str] | None = getattr(request.app.state, "metadata", None)
    if cached is None:  # fixed for the life of the worker: build it once
        body = _enc.encode(_metadata(svc))
        cached = (body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        request.app.state.metadata = cached
    return _cached(request, cached[0], "application/json", 3600, cached[1])


def _metadata(svc: Services) -> dict[str, Any]:
    s = svc.settings
    return {
        "issuer": s.issuer,
        "jwks_uri": f"{s.issuer.rstrip('/')}/.well-known/jwks.json",
        "status_list_base": s.status_list_base,
        "proof_typ": "statuspass+jwt",
        "signing_algorithms": ["ES256", "EdDSA"],
        "default_proof_lifetime_s": s.default_proof_lifetime_s,
        "clock_skew_s": s.clock_skew_s,
        "status_list_ttl_s": s.status_list_ttl_s,
        "entitlement_types": public_types(svc.registry),
    }


@get("/v1/status-lists", tags=["public"], summary="The URIs of the status lists published")
async def status_list_index(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every list an offline verifier may need, so it can keep them all (and a fetch of
    all of them says nothing about whom it checks)."""
    svc = services(request)
    ids = sorted(await svc.store.status_list_ids(), key=lambda i: (len(i), i))
    base = svc.settings.status_list_base
    body = _enc.encode({"status_lists": [base + list_id for list_id in ids]})
    return _cached(request, body, "application/json", max(1, svc.settings.status_list_ttl_s // 4))


@get("/v1/status-lists/{list_id:str}", tags=["public"], summary="A signed status list")
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
    return _cached(
        request,
        published.token,
        "application/statuslist+jwt",
        svc.status_lists.max_age(published, now),
        published.etag,
    )


@get("/health", tags=["operations"], summary="Liveness", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["operations"], summary="Readiness: store and keys")
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
