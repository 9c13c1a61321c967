"""The pure token core: JWS, JWKS, status lists, QR codes, numeric codes, verification.

No I/O and no clock: every function takes ``now`` (or epoch seconds) as a parameter, so
the same code runs online, in the offline verifier and in tests with fixed times.
"""

from __future__ import annotations

from app.tokens.codes import code_digest, code_digest_key, format_code, new_code, normalize_code
from app.tokens.jose import (
    JoseError,
    PublicKey,
    SigningKey,
    decode_verified,
    jwks_document,
    kid_for,
    parse_jwks,
    sign,
)
from app.tokens.nrn import generate_nrn, pseudonym, strip_separators, validate_nrn
from app.tokens.qr import QRImage, render_qr
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
from app.tokens.verify import (
    LAST_EPOCH,
    PROOF_TYP,
    EntitlementInfo,
    HolderInfo,
    KeySet,
    ProofClaims,
    SeenInfo,
    TokenCheck,
    VerificationResult,
    build_result,
    check_token,
    epoch,
    rfc3339,
    undetermined,
    verify_offline,
)

__all__ = [
    "LAST_EPOCH",
    "PROOF_TYP",
    "STATUS_INVALID",
    "STATUS_LIST_TYP",
    "STATUS_SUSPENDED",
    "STATUS_VALID",
    "EntitlementInfo",
    "HolderInfo",
    "JoseError",
    "KeySet",
    "ProofClaims",
    "PublicKey",
    "QRImage",
    "SeenInfo",
    "SigningKey",
    "StatusList",
    "TokenCheck",
    "VerificationResult",
    "build_result",
    "check_token",
    "code_digest",
    "code_digest_key",
    "decode_lst",
    "decode_verified",
    "encode_lst",
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
    "render_qr",
    "rfc3339",
    "set_status",
    "sign",
    "sign_status_list",
    "strip_separators",
    "undetermined",
    "validate_nrn",
    "verify_offline",
]
