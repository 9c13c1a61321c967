"""The pure token core: proofs, JWS, JWKS, status lists, QR codes, numeric codes, NRNs,
entitlement types as data, and verification.

No I/O and no clock: every function takes ``now`` (or epoch seconds) as a parameter, so
the same code runs online, in the offline verifier and in tests with fixed times. It
imports nothing else from `app` (a test proves it), so a partner can embed it alone;
docs/verifier-sdk.md shows how.
"""

from __future__ import annotations

from app.tokens.codes import code_digest, code_digest_key, format_code, new_code, normalize_code
from app.tokens.errors import DomainError, InvalidInput, JoseError, StatuspassError, UnknownType
from app.tokens.jose import decode_verified, sign
from app.tokens.jwk import PublicKey, SigningKey, jwks_document, kid_for, parse_jwks
from app.tokens.nrn import generate_nrn, pseudonym, strip_separators, validate_nrn
from app.tokens.proof import PROOF_TYP, encode_proof, verdict
from app.tokens.qr import QRImage, render_qr
from app.tokens.results import (
    LAST_EPOCH,
    EntitlementInfo,
    HolderInfo,
    KeySet,
    ProofClaims,
    SeenInfo,
    TokenCheck,
    VerificationResult,
    epoch,
    rfc3339,
)
from app.tokens.statuslist import (
    STATUS_INVALID,
    STATUS_LIST_TYP,
    STATUS_SUSPENDED,
    STATUS_VALID,
    StatusList,
    decode_lst,
    encode_lst,
    get_status,
    parse_status_list,
    set_status,
    sign_status_list,
)
from app.tokens.types import (
    EntitlementType,
    Registry,
    public_types,
    registry_from_metadata,
)
from app.tokens.verify import build_result, check_token, undetermined, verify_offline

__all__ = [
    "LAST_EPOCH",
    "PROOF_TYP",
    "STATUS_INVALID",
    "STATUS_LIST_TYP",
    "STATUS_SUSPENDED",
    "STATUS_VALID",
    "DomainError",
    "EntitlementInfo",
    "EntitlementType",
    "HolderInfo",
    "InvalidInput",
    "JoseError",
    "KeySet",
    "ProofClaims",
    "PublicKey",
    "QRImage",
    "Registry",
    "SeenInfo",
    "SigningKey",
    "StatusList",
    "StatuspassError",
    "TokenCheck",
    "UnknownType",
    "VerificationResult",
    "build_result",
    "check_token",
    "code_digest",
    "code_digest_key",
    "decode_lst",
    "decode_verified",
    "encode_lst",
    "encode_proof",
    "epoch",
    "format_code",
    "generate_nrn",
    "get_status",
    "jwks_document",
    "kid_for",
    "new_code",
    "normalize_code",
    "parse_jwks",
    "parse_status_list",
    "pseudonym",
    "public_types",
    "registry_from_metadata",
    "render_qr",
    "rfc3339",
    "set_status",
    "sign",
    "sign_status_list",
    "strip_separators",
    "undetermined",
    "validate_nrn",
    "verdict",
    "verify_offline",
]
