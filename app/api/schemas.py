"""Request and response bodies of the HTTP API (msgspec Structs; unknown fields rejected)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from app.domain.records import Holder

__all__ = [
    "CardCheckRequest",
    "EntitlementView",
    "HolderIn",
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


class HolderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    given_name: Name
    family_name: Name

    def to_holder(self) -> Holder:
        return Holder(given_name=self.given_name, family_name=self.family_name)


class UpsertRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nrn: Nrn
    holder: HolderIn
    valid_from: datetime
    valid_until: datetime
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
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    attributes: dict[str, str] = {}
    reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    id: Annotated[str, msgspec.Meta(max_length=100)] | None = None  # echoed back


class BatchResult(msgspec.Struct, frozen=True, omit_defaults=True):
    line: int
    ok: bool
    id: str | None = None
    outcome: str | None = None
    status: str | None = None
    error: str | None = None
    detail: str | None = None
