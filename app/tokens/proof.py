"""The proof format: its JWS type, the claims it carries, and the verdict rule.

One place writes a proof's claims (`encode_proof`, used by issuance) and `check_token`
reads them back; `verdict` is the one rule that turns a check and a status into
``result``/``reason`` (the online audit and every verification result use it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.tokens.jose import sign
from app.tokens.jwk import SigningKey
from app.tokens.results import TokenCheck
from app.tokens.statuslist import STATUS_SUSPENDED, STATUS_VALID

__all__ = ["PROOF_TYP", "encode_proof", "verdict"]

#: the JWS ``typ`` of a proof: a verifier refuses any other (a status list is no proof)
PROOF_TYP = "statuspass+jwt"


def encode_proof(
    key: SigningKey,
    *,
    issuer: str,
    iat: int,
    exp: int,
    jti: str,
    type_id: str,
    name: str | None,
    list_uri: str,
    idx: int,
    attributes: Mapping[str, str],
) -> str:
    """Sign a proof: the compact JWS a QR code carries.

    Claims stay in this order and this lean (a ``social_tariff`` proof must fit QR
    version 17 at level M): ``iss``, ``iat``, ``exp``, ``jti``, ``ent``, ``nam`` only
    when the type discloses a name, the status-list pointer, then the type's own claims.
    """
    claims: dict[str, Any] = {"iss": issuer, "iat": iat, "exp": exp, "jti": jti, "ent": type_id}
    if name:
        claims["nam"] = name
    claims["status"] = {"status_list": {"idx": idx, "uri": list_uri}}
    claims.update(attributes)
    return sign(claims, key, typ=PROOF_TYP)


def verdict(check: TokenCheck, status: int | None) -> tuple[str, str | None]:
    """``(result, reason)`` of a check at a status-list value (None: not looked up).

    The only place that decides between ``valid`` and a reason: `build_result` shows it,
    and the online path records it in the audit before the status is known, once per
    possible status.
    """
    reason: str | None = check.failure
    if reason is None and check.claims is None:
        reason = "malformed"  # no claims and no failure: never let that read as valid
    if reason is None and status is not None and status != STATUS_VALID:
        # 3 is "application specific" in the draft and unused by us: fail closed and
        # call it revoked, the closest reason a counter clerk acts on the same way.
        reason = "suspended" if status == STATUS_SUSPENDED else "revoked"
    return ("valid" if reason is None else "invalid"), reason
