"""Online verification: tokens, numeric codes and parking-card numbers.

All three paths end in the same place: `check_token`/`build_result` from the pure core (so
the offline verifier, this service and the CLI say the same thing for the same input) and
one `Store.check_and_record` step that reads the live status, counts the check for `seen`
and appends the audit record — one store round trip for a genuine token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime

from app.config import Settings
from app.domain.clients import require_scope
from app.domain.guess_limit import GuessLimit
from app.domain.ids import random_hex
from app.domain.lookups import card_check_for, normalize_card_number, proof_claims
from app.domain.ports import Store
from app.domain.records import (
    INVALID,
    SUSPENDED,
    VALID,
    AuditEvent,
    CheckRequest,
    ClientRecord,
    StatusRef,
)
from app.domain.registry import Registry
from app.errors import Forbidden
from app.tokens import (
    ProofClaims,
    PublicKey,
    SeenInfo,
    TokenCheck,
    VerificationResult,
    build_result,
    check_token,
    code_digest,
    normalize_code,
    verdict,
)

__all__ = ["VerificationService", "normalize_card_number"]  # the card rule, re-exported

_STATUSES = (VALID, INVALID, SUSPENDED, -1)


class VerificationService:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        settings: Settings,
        keys: Callable[[datetime], Mapping[str, PublicKey]],
        code_key: bytes,
    ) -> None:
        self._store = store
        self._registry = registry
        self._settings = settings
        self._keys = keys
        self._code_key = code_key
        self._limit = GuessLimit(store, settings)
        self._list_base = settings.status_list_base

    # -- entry points -------------------------------------------------------------
    async def verify_token(
        self, client: ClientRecord, token: str, now: datetime, lang: str = "en"
    ) -> VerificationResult:
        require_scope(client, "verifier")
        check = check_token(
            token,
            self._keys(now),
            now=now,
            skew_s=self._settings.clock_skew_s,
            registry=self._registry,
            allowed_types=client.types,
            issuer=self._settings.issuer,
        )
        return await self._conclude(client, check, now, lang, action="verify")

    async def verify_code(
        self, client: ClientRecord, code: str, now: datetime, lang: str = "en"
    ) -> VerificationResult:
        require_scope(client, "verifier")
        digits = normalize_code(code)  # typos stop here, before any lookup
        # the place under the guess limit and the lookup are asked at once (one round
        # trip of latency on Redis); the place decides before anything about the code
        # is answered
        _, proof = await asyncio.gather(
            self._limit.take(client, now, "verify"),
            self._store.get_proof_by_code(code_digest(digits, self._code_key), now),
        )
        if proof is None:
            return await self._lookup_failed(client, now, lang, "unknown_code", "verify")
        if proof.kid not in self._keys(now):
            # the key that signed the proof was withdrawn (`keys retire`: it leaked, say):
            # the proof's code stops with its token, for the same reason
            check = TokenCheck(claims=None, failure="unknown_key")
        elif proof.type not in client.types:
            check = TokenCheck(claims=None, failure="not_permitted")
        elif now >= proof.expires_at:
            # A code is answered "expired" for CODE_HOLD_S after its proof ends, so far
            # more codes answer than live ones: a guess that hits one learns the type
            # and the end, never who (no name, no attributes).
            check = TokenCheck(
                claims=proof_claims(proof, self._list_base, disclose=False), failure="expired"
            )
        else:
            check = TokenCheck(
                claims=proof_claims(proof, self._list_base, disclose=True), failure=None
            )
        # found: the place goes back (only unknown codes count), beside the check
        result, _ = await asyncio.gather(
            self._conclude(client, check, now, lang, action="verify"),
            self._limit.give_back(client, now),
        )
        return result

    async def check_card(
        self, client: ClientRecord, number: str, now: datetime, lang: str = "en"
    ) -> VerificationResult:
        require_scope(client, "verifier")
        digits = normalize_card_number(number)
        if "parking_card" not in client.types:
            event = _event(
                client, now, "card_check", "parking_card", None, "invalid", "not_permitted"
            )
            await self._store.append_audit(event)
            raise Forbidden("this client may not check parking cards")
        _, cards = await asyncio.gather(
            self._limit.take(client, now, "card_check"), self._store.get_cards([digits])
        )
        if not cards:
            return await self._lookup_failed(client, now, lang, "unknown_card", "card_check")
        card = cards[0]
        card_check = card_check_for(card, self._list_base, self._registry, now)
        result, _ = await asyncio.gather(
            self._record(
                client,
                card.status_ref,
                None,
                card.subject,
                card_check,
                now,
                "card_check",
                "parking_card",
                lang,
            ),
            self._limit.give_back(client, now),
        )
        return result

    # -- shared steps -------------------------------------------------------------
    async def _conclude(
        self, client: ClientRecord, check: TokenCheck, now: datetime, lang: str, *, action: str
    ) -> VerificationResult:
        claims = check.claims
        if claims is None or check.failure is not None:
            type_id, jti = (claims.type, claims.jti) if claims else (None, None)
            return await self._unchecked(client, check, now, lang, action, type_id, jti)
        ref = self._ref_for(claims)
        if ref is None:  # a genuine signature over a list we do not publish: never "valid"
            check = TokenCheck(claims=None, failure="malformed")
            return await self._conclude(client, check, now, lang, action=action)
        return await self._record(
            client, ref, claims.jti, None, lambda _: check, now, action, claims.type, lang
        )

    async def _record(
        self,
        client: ClientRecord,
        ref: StatusRef,
        jti: str | None,
        subject: str | None,
        check_for: Callable[[int], TokenCheck],
        now: datetime,
        action: str,
        type_id: str,
        lang: str,
    ) -> VerificationResult:
        """The live step: the store reads the status and appends the audit event for it;
        the full result is built once, for the status actually found."""
        vid = self._new_id()
        audit: dict[int, AuditEvent] = {}
        # statuses with the same verdict share one event (revoked and unknown do); the
        # store writes the one for the status it reads
        by_verdict: dict[tuple[str, str | None], AuditEvent] = {}
        for status in _STATUSES:
            result, reason = verdict(check_for(status), status)
            event = by_verdict.get((result, reason))
            if event is None:
                event = by_verdict[(result, reason)] = _event(
                    client, now, action, type_id, jti, result, reason, subject=subject, vid=vid
                )
            audit[status] = event
        outcome = await self._store.check_and_record(
            CheckRequest(
                ref=ref,
                jti=jti,
                subject=subject,
                org=client.org_id,  # all credentials of one organisation count once
                now=now,
                seen_window_s=self._settings.seen_window_s,
                audit_by_status=audit,
            )
        )
        seen = None
        if outcome.seen is not None:
            seen = SeenInfo(count=outcome.seen.count, organisations=outcome.seen.organisations)
        return build_result(
            check_for(outcome.status),
            status=outcome.status,
            now=now,
            registry=self._registry,
            revocation_checked="online",
            lang=lang,
            seen=seen,
            verification_id=vid,
        )

    def _ref_for(self, claims: ProofClaims) -> StatusRef | None:
        if not claims.list_uri.startswith(self._list_base):
            return None
        list_id = claims.list_uri[len(self._list_base) :]
        if not list_id or "/" in list_id:
            return None
        return StatusRef(list_id=list_id, idx=claims.idx)

    async def _lookup_failed(
        self, client: ClientRecord, now: datetime, lang: str, reason: str, action: str
    ) -> VerificationResult:
        await self._limit.failed(client, now)
        check = TokenCheck(claims=None, failure=reason)
        type_id = "parking_card" if action == "card_check" else None
        return await self._unchecked(client, check, now, lang, action, type_id, None)

    async def _unchecked(
        self,
        client: ClientRecord,
        check: TokenCheck,
        now: datetime,
        lang: str,
        action: str,
        type_id: str | None,
        jti: str | None,
    ) -> VerificationResult:
        """An answer decided before any status is read (a failed check, an unknown code
        or card): built, audited and returned."""
        result = build_result(
            check,
            status=None,
            now=now,
            registry=self._registry,
            revocation_checked="none",
            lang=lang,
            verification_id=self._new_id(),
        )
        event = _event(
            client, now, action, type_id, jti, result.result, result.reason,
            vid=result.verification_id,
        )  # fmt: skip
        await self._store.append_audit(event)
        return result

    @staticmethod
    def _new_id() -> str:
        return random_hex(16)  # 128 random bits, cheaper than a uuid4 object


def _event(
    client: ClientRecord,
    now: datetime,
    action: str,
    type_id: str | None,
    jti: str | None,
    result: str,
    reason: str | None,
    *,
    subject: str | None = None,
    vid: str | None = None,
) -> AuditEvent:
    """The audit event of a check by `client` (its organisation's name as it is now)."""
    return AuditEvent(
        at=now,
        actor=client.id,
        action=action,
        type=type_id,
        jti=jti,
        result=result,
        reason=reason,
        subject=subject,
        org=client.name,
        verification_id=vid,
    )
