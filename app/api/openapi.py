"""What the OpenAPI document says beyond what Litestar infers from the handlers.

* Who may call what: three bearer schemes (a source's API key, a verifier's API key, a
  citizen's OpenID Connect ID token), named per operation with `SOURCE`, `VERIFIER`,
  `CITIZEN`, so the docs UI has an Authorize button and clients know what to send.
* The errors: `problems(...)` documents the 4xx and 5xx answers an operation can give,
  each an RFC 9457 problem (`application/problem+json`, `ProblemDetails`), instead of
  Litestar's default error body; `complete` adds `Retry-After` to every 429 and 503.
* `POST /v1/entitlements:batch`: a raw ASGI handler, which Litestar does not document;
  `complete` adds it, with the NDJSON line formats as schemas generated from the very
  Structs the handler decodes and encodes.

`create_app` passes `security_schemes()` to Litestar and calls `complete` on the built
document once, so the JSON, the UI and `app.openapi_schema` all show the same thing.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    PathItem,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)

from app.api.problems import MEDIA, ProblemDetails
from app.api.schemas import BatchLine, BatchResult, BatchSummaryLine, BatchTruncated

__all__ = ["CITIZEN", "SOURCE", "VERIFIER", "complete", "problems", "security_schemes"]

SOURCE: list[dict[str, list[str]]] = [{"sourceKey": []}]
VERIFIER: list[dict[str, list[str]]] = [{"verifierKey": []}]
CITIZEN: list[dict[str, list[str]]] = [{"citizenIdToken": []}]

BATCH_PATH = "/v1/entitlements:batch"
NDJSON = ("application/x-ndjson", "application/jsonl", "application/ndjson")

#: when each error answer happens, unless the operation says it better
_WHY = {
    400: "Malformed request: the body is not JSON or a field has the wrong type",
    401: "No valid credentials: a missing, unknown or revoked key or ID token",
    403: "Valid credentials, but not for this operation or entitlement type",
    404: "Not found",
    409: "Conflict with what is stored, or a concurrent update (retry)",
    413: "The body is larger than the service accepts",
    415: "The body is not sent as application/json",
    422: "A well-formed field with a wrong value (check digits, dates, lifetimes)",
    429: "Too many requests: the service sheds load, or too many failed attempts; "
    "retry after Retry-After seconds",
    503: "The data store cannot be reached: nothing was checked or changed; "
    "retry after Retry-After seconds",
}
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
    description="seconds to wait before retrying",
    required=True,
)


def security_schemes() -> Components:
    """The components Litestar keeps from its config: the three bearer schemes."""
    return Components(
        security_schemes={
            "sourceKey": SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format="API key",
                description="An authentic source's API key (`statuspass clients add --role "
                "source`), scoped to the entitlement types it may write.",
            ),
            "verifierKey": SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format="API key",
                description="A verifier organisation's API key (`statuspass clients add "
                "--role verifier`), scoped to the entitlement types it may check.",
            ),
            "citizenIdToken": SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format="JWT",
                description="An OpenID Connect ID token of the national e-ID provider; "
                "in development, `statuspass dev citizen-token NRN` mints one.",
            ),
        }
    )


def problems(*statuses: int, **why: str) -> dict[int, ResponseSpec]:
    """The error answers an operation documents, as problem details. `why` overrides a
    status's description: `problems(401, 404, e404="no such status list")`."""
    return {
        status: ResponseSpec(
            ProblemDetails,
            description=why.get(f"e{status}", _WHY[status]),
            media_type=MEDIA,
            generate_examples=False,
        )
        for status in statuses
    }


def complete(doc: OpenAPI) -> None:
    """Add to Litestar's document what it cannot infer (see the module docstring)."""
    doc.paths = doc.paths or {}
    doc.paths[BATCH_PATH] = PathItem(post=_batch_operation())
    schemas: dict[str, Any] = doc.components.schemas or {}
    _, generated = msgspec.json.schema_components(
        [BatchLine, BatchResult, BatchSummaryLine, BatchTruncated, ProblemDetails],
        ref_template="#/components/schemas/{name}",
    )
    for name, schema in generated.items():
        schemas.setdefault(name, schema)  # Litestar's own (e.g. HolderIn) stay as they are
    doc.components.schemas = schemas
    for item in doc.paths.values():
        for operation in (item.get, item.put, item.post, item.delete, item.patch):
            for status, response in (operation.responses or {}).items() if operation else ():
                if status in ("429", "503") and isinstance(response, OpenAPIResponse):
                    response.headers = {**(response.headers or {}), "Retry-After": _RETRY_AFTER}


def _ref(name: str) -> Reference:
    return Reference(ref=f"#/components/schemas/{name}")


def _problem(status: int, why: str | None = None) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=why or _WHY[status],
        content={MEDIA: OpenAPIMediaType(schema=_ref("ProblemDetails"))},
    )


def _batch_operation() -> Operation:
    lines = Schema(
        one_of=[_ref("BatchResult"), _ref("BatchTruncated"), _ref("BatchSummaryLine")],
        description="One JSON object per line: a BatchResult per input line, in input order; "
        "a BatchTruncated if the body passed the size limit; a BatchSummaryLine last.",
    )
    return Operation(
        tags=["sources"],
        summary="Many upserts and status changes: an NDJSON stream, answered line by line",
        description=(
            "The body is NDJSON: one `BatchLine` object per line, `op` one of upsert, "
            "revoke, suspend, reinstate (an upsert needs holder, valid_from and "
            "valid_until). Lines are applied as they arrive and answered in order while "
            "the body is still being sent; a bad line gets an error line and never "
            "blocks the good ones; re-sending a batch is idempotent. A line is at most "
            "64 KiB; a body past the size limit is answered 413 if its Content-Length "
            "says so, else cut with a `body-too-large` line after the lines applied."
        ),
        operation_id="V1EntitlementsBatch",
        security=SOURCE,
        request_body=RequestBody(
            required=True,
            description="NDJSON: one BatchLine per line (UTF-8, `\\n`-separated)",
            content={media: OpenAPIMediaType(schema=_ref("BatchLine")) for media in NDJSON},
        ),
        responses={
            "200": OpenAPIResponse(
                description="One answer line per input line, then a summary line",
                content={"application/x-ndjson": OpenAPIMediaType(schema=lines)},
            ),
            "401": _problem(401),
            "413": _problem(413, "Content-Length is past the batch size limit"),
            "415": _problem(415, "The body is not sent as application/x-ndjson"),
            "429": _problem(429),
            "503": _problem(503),
        },
    )
