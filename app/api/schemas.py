"""Request and response bodies of the HTTP API (msgspec Structs; unknown fields rejected)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from app.domain.records import Holder

__all__ = [
    "BatchLine",
    "BatchResult",
    "BatchSummary",
    "BatchSummaryLine",
    "BatchTruncated",
    "CardCheckRequest",
    "EntitlementView",
    "HolderIn",
    "IssuerMetadata",
    "Jwk",
    "JwkSet",
    "ProofRequest",
    "ProofResponse",
    "StatusChangeRequest",
    "UpsertRequest",
    "VerificationView",
    "VerifyRequest",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Nrn = Annotated[
    str, msgspec.Meta(min_length=11, max_length=20, description="national register number")
]
# Parsed by `app.domain.dates` rather than by msgspec, so that every date a source gets
# wrong is a 422 naming the field (one strict form, one range), on a PUT and on a batch line.
_INSTANT = (
    "RFC 3339 date-time with an offset, between 1900-01-01 and 2999-12-31, "
    "e.g. 2027-12-31T23:59:59+01:00"
)
#: in a body Litestar documents (it reads only the "extra" member for the OpenAPI schema)
Instant = Annotated[
    str,
    msgspec.Meta(
        max_length=40, description=_INSTANT, extra_json_schema={"extra": {"format": "date-time"}}
    ),
]
#: in a batch line, documented by msgspec itself (`app.api.openapi`)
InstantLine = Annotated[
    str,
    msgspec.Meta(max_length=40, description=_INSTANT, extra_json_schema={"format": "date-time"}),
]


class HolderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    given_name: Name
    family_name: Name

    def to_holder(self) -> Holder:
        return Holder(given_name=self.given_name, family_name=self.family_name)


class UpsertRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nrn: Nrn
    holder: HolderIn
    valid_from: Instant
    #: exclusive; for a parking card, the card's own validity (proofs carry its last day)
    valid_until: Instant
    attributes: dict[
        Annotated[str, msgspec.Meta(max_length=40)], Annotated[str, msgspec.Meta(max_length=100)]
    ] = {}


class StatusChangeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nrn: Nrn
    reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class WriteResponse(msgspec.Struct, frozen=True):
    type: str
    outcome: str
    status: str


class EntitlementView(msgspec.Struct, frozen=True):
    type: str
    label: str
    status: str
    valid_from: datetime
    valid_until: datetime
    current: bool
    attributes: dict[str, str]


class EntitlementList(msgspec.Struct, frozen=True):
    entitlements: list[EntitlementView]


class ProofRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Annotated[str, msgspec.Meta(max_length=64)]
    lifetime_s: Annotated[int, msgspec.Meta(ge=1, le=400_000_000)] | None = None
    qr: Annotated[list[Literal["svg", "png"]], msgspec.Meta(max_length=2)] = msgspec.field(
        default_factory=lambda: ["svg"]
    )


class ProofResponse(msgspec.Struct, frozen=True):
    token: str
    jti: str
    code: str | None
    qr_version: int
    expires_at: datetime
    qr_svg: str | None = None
    qr_png_base64: str | None = None


class VerificationView(msgspec.Struct, frozen=True):
    organisation: str
    type: str | None
    at: datetime
    result: str
    reason: str | None
    # the id the verifier was given (absent for checks recorded before it was audited)
    verification_id: str | None = None


class VerificationList(msgspec.Struct, frozen=True):
    verifications: list[VerificationView]
    # checks from this time on are listed; older ones were moved to the audit archive
    # (null: none was, the list goes back to the start)
    since: datetime | None = None


class VerifyRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(max_length=8192)] | None = None
    code: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class ClientView(msgspec.Struct, frozen=True):
    """Who an API key is: what a verifier device shows once it is set up."""

    id: str
    name: str
    role: str
    types: list[str]
    org: str
    label: str | None = None


class CardCheckRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    card_number: Annotated[str, msgspec.Meta(max_length=40)]


class BatchLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One NDJSON line of `POST /v1/entitlements:batch`."""

    op: Literal["upsert", "revoke", "suspend", "reinstate"]
    type: Annotated[str, msgspec.Meta(max_length=64)]
    nrn: Nrn
    holder: HolderIn | None = None
    valid_from: InstantLine | None = None
    valid_until: InstantLine | None = None
    attributes: dict[str, str] = {}
    reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    id: Annotated[str, msgspec.Meta(max_length=100)] | None = None  # echoed back


class BatchResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer line of one input line, in input order: `ok`, or an `error` code (the
    domain error's name, `malformed`, `line-too-long`, `store-unavailable`)."""

    line: int
    ok: bool
    id: str | None = None
    outcome: str | None = None
    status: str | None = None
    error: str | None = None
    detail: str | None = None


class BatchSummary(msgspec.Struct, frozen=True):
    lines: int
    ok: int
    failed: int
    #: false when the body was cut at the size limit: send the rest separately
    complete: bool


class BatchSummaryLine(msgspec.Struct, frozen=True):
    """The last answer line of a batch."""

    summary: BatchSummary


class BatchTruncated(msgspec.Struct, frozen=True):
    """The answer line sent, before the summary, when the body passed the size limit."""

    error: Literal["body-too-large"]
    detail: str


# -- public documents, as documented (the JWKS is built by the keyring) ------------------


class Jwk(msgspec.Struct, frozen=True):
    kty: Literal["EC", "OKP"]
    crv: Literal["P-256", "Ed25519"]
    x: str
    kid: str
    alg: Literal["ES256", "EdDSA"]
    use: Literal["sig"]
    y: str | None = None  # EC keys only


class JwkSet(msgspec.Struct, frozen=True):
    keys: list[Jwk]


class EntitlementTypeInfo(msgspec.Struct, frozen=True):
    id: str
    labels: dict[str, str]
    disclosed_claims: list[str]
    max_lifetime_s: int
    numeric_codes: bool


class StatusListIndex(msgspec.Struct, frozen=True):
    """`GET /v1/status-lists`: the URI of every list published."""

    status_lists: list[str]


class IssuerMetadata(msgspec.Struct, frozen=True):
    issuer: str
    jwks_uri: str
    status_list_base: str
    proof_typ: str
    signing_algorithms: list[str]
    default_proof_lifetime_s: int
    clock_skew_s: int
    status_list_ttl_s: int
    entitlement_types: list[EntitlementTypeInfo]
    # where the keys that sign audit checkpoints are (never proof keys): a field added
    audit_key_uri: str | None = None
