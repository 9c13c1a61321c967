"""Redis operations on proofs and numeric codes, online checks and rate counters.

Expiry is decided by comparing with the caller's `now` (as on SQLite: the store never
reads the clock); Redis TTLs, relative to the server's clock, only collect the garbage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from app.domain.ports import STATUS_LIST_SIZE
from app.domain.records import (
    INVALID,
    VALID,
    AuditEvent,
    CheckOutcome,
    CheckRequest,
    Entitlement,
    ProofRecord,
    Seen,
)
from app.errors import EntitlementMoved
from app.storage._common import (
    CHECK_RETENTION_S,
    CODE_HOLD_US,
    PROOF_GRACE_S,
    RATE_GRACE_S,
    to_us,
    window_start,
)
from app.storage._lean import decode_held_entitlement, encode_proof_at
from app.storage.redis.audit import Arg, prepare
from app.storage.redis.conn import as_bytes
from app.storage.redis.ctx import Ctx, decoders
from app.storage.redis.keys import GLOBAL, Layout

__all__ = [
    "check_and_record",
    "get_proof_by_code",
    "hit_rate",
    "rate_count",
    "save_proof",
    "undo_hit",
]


# -- proofs and codes ---------------------------------------------------------------------
async def save_proof(
    ctx: Ctx,
    proof: ProofRecord,
    code: str | None,
    audit: AuditEvent,
    basis: Entitlement | None = None,
) -> bool:
    """Store proof + audit on the proof's shard, with its numeric code claimed.

    The proof lives in the shard of its status list (the subject's shard), where the
    check of that list will look for it. On a single node the code claim is part of the
    same script: one atomic, durable write (with `appendfsync always` an issuance then
    waits for one fsync, not two). On a cluster the code key has a slot of its own, so it
    is claimed first; if the second step fails after the first, the code points at a
    proof that is not there and reads as unknown until it expires.

    The code is held until `CODE_HOLD_S` after the proof's expiry (its key's TTL, and
    the claim refuses a code whose holder expired less than that before `now`).

    With `basis`, the same script compares the stored entitlement with it, byte for byte
    (the entitlement's bucket is in the subject's shard, as is its status list): on a
    change nothing of the proof is written and `EntitlementMoved` carries the stored
    one, which, like a basis saved on, becomes this process's hint for the next
    issuance (`EntitlementHints`). (On a cluster the code claimed before stays held,
    pointing at no proof, until its hold ends: it reads as unknown.)
    """
    label = ctx.layout.shard_of_list(proof.status_ref.list_id)
    now_us, expires_us = to_us(proof.issued_at), to_us(proof.expires_at)
    life_ms = max(1, (expires_us - now_us) // 1000)
    proof_key = ctx.layout.proof_key(label, proof.jti)
    record = encode_proof_at(proof, now_us, expires_us)
    extra: list[Arg] = [proof.subject, record, life_ms + PROOF_GRACE_S * 1000]
    if basis is None:
        keys = [proof_key, proof_key]  # no entitlement to compare: KEYS[4] is not read
        extra += [b"", b""]
    else:
        ent_label, ent_key, ent_field = ctx.layout.ent_place(proof.subject, proof.type)
        if ent_label != label:  # status refs are allocated in the subject's shard
            raise ValueError(f"proof {proof.jti!r}: its status list is not in its holder's shard")
        keys = [proof_key, ent_key]
        basis_form = ctx.entitlements.stored_form(basis)
        extra += [ent_field, basis_form]
    script = "SAVE_PROOF"
    if code is not None:
        hold_ms = life_ms + CODE_HOLD_US // 1000
        claim: list[Arg] = [now_us - CODE_HOLD_US, f"{expires_us} {label} {proof.jti}", hold_ms]
        if ctx.single_node:
            script = "SAVE_PROOF_WITH_CODE"
            keys.append(Layout.code_key(code))
            extra += claim
        elif not int(await ctx.scripts.run("CLAIM_CODE", [Layout.code_key(code)], claim)):
            return False

    def build(chain: str, seq: int, prev: str) -> tuple[list[Arg], Callable[[list[Any]], str]]:
        prepared = prepare(ctx.layout, label, chain, audit, seq, prev)
        return [*prepared.args(), *extra], lambda _reply: prepared.digest

    reply = await ctx.chains.run(label, script, keys, build)
    kind = reply[0]
    if kind == "X":  # a live proof holds the code: nothing was written
        return False
    if kind == "E":  # the entitlement is not the basis any more: no proof was written
        held = None if reply[1] is None else as_bytes(reply[1])
        current = None if held is None else decode_held_entitlement(proof.type, proof.subject, held)
        ctx.entitlements.put(proof.type, proof.subject, current, held or b"")
        raise EntitlementMoved(current)
    ctx.subjects.put(proof.jti, proof.subject, expires_us, now_us)
    if basis is not None:
        ctx.entitlements.put(proof.type, proof.subject, basis, basis_form)
    return True


async def get_proof_by_code(ctx: Ctx, code: str, now: datetime) -> ProofRecord | None:
    """The proof a code stands for, live or within its hold after expiry: one round
    trip on a single node (the proof read by the same script), two on a cluster (the
    code's slot, then the proof's)."""
    key = Layout.code_key(code)
    if ctx.single_node:
        reply = await ctx.scripts.run("READ_PROOF_BY_CODE", [key], ctx.layout.proof_around)
        if reply is None:
            return None
        held, data = reply
        live = _live_code(held, now)
    else:
        held = await ctx.scripts.run("READ_VALUE", [key], [])
        live = _live_code(held, now) if held is not None else None
        data = None
        if live is not None:
            proof_key = ctx.layout.proof_key(*live)
            data = await ctx.scripts.run("READ_FIELD", [proof_key], ["d"])
    if live is None or data is None:
        return None
    proof = decoders.proof.decode(data)
    ctx.subjects.put(proof.jti, proof.subject, to_us(proof.expires_at), to_us(now))
    return proof


def _live_code(held: Any, now: datetime) -> tuple[str, str] | None:
    """(shard label, jti) of a code's value "<expires µs> <label> <jti>", None once the
    hold after expiry is over."""
    expires, label, jti = as_bytes(held).decode().split(" ", 2)
    return (label, jti) if int(expires) > to_us(now) - CODE_HOLD_US else None


# -- online checks ------------------------------------------------------------------------
async def check_and_record(ctx: Ctx, check: CheckRequest) -> CheckOutcome:
    """One script on the shard of `ref`: read the status, append the audit record built
    for it, count the check.

    The record is built (encoded and hashed) for the status the caller expects: valid,
    or what this process last read for the entry. The script appends it only if that
    is the status it reads, and otherwise answers with the status, for a second call
    with the right record. So a genuine token takes one round trip, as does a revoked
    one checked again by the same worker; building one record instead of one per
    possible status halves the worker's work on the audit and redis-server's on the
    script's arguments. The subject the record names works the same way: known
    beforehand (no jti, the events name their subject, or the jti's subject is in this
    process's cache), else the script answers with the registry's subject.
    """
    ref, jti, subject, org = check.ref, check.jti, check.subject, check.org
    seen_window_s, audit_by_status = check.seen_window_s, check.audit_by_status
    place = ctx.layout.list_place(ref.list_id)
    if place is None:
        label, n, idx = GLOBAL, 0, -1  # not one of our lists: INVALID, audited globally
    else:
        label, n = str(place[0]), place[1]
        idx = ref.idx if 0 <= ref.idx < STATUS_LIST_SIZE else -1
    lookup = jti is not None and any(e.subject is None for e in audit_by_status.values())
    now_us = to_us(check.now)
    guess = (ctx.subjects.get(jti, now_us) if jti is not None else None) or subject
    entry = (label, n, idx)
    expected = INVALID if idx < 0 else ctx.statuses.get(entry, VALID)
    layout = ctx.layout
    jti_key = jti or ""
    keys = [
        layout.alloc_key(label, n),
        layout.bits_key(label, n),
        layout.proof_key(label, jti_key),
    ]
    for _ in range(4):  # at most: the subject, then the status, was another one
        event = audit_by_status.get(expected, audit_by_status[-1])
        filled = guess if lookup else subject
        if event.subject is None and filled is not None:
            event = msgspec.structs.replace(event, subject=filled)

        def build(
            chain: str,
            seq: int,
            prev: str,
            event: AuditEvent = event,
            expected: int = expected,
            guess: str | None = guess,
        ) -> tuple[list[Arg], Callable[[list[Any]], str]]:
            prepared = prepare(layout, label, chain, event, seq, prev)
            args: list[Arg] = [
                *prepared.args(),
                idx,
                "1" if jti is not None else "0",
                "1" if lookup else "0",
                guess or "",
                subject or "",
                org,
                now_us,
                now_us - seen_window_s * 1_000_000,
                (seen_window_s + CHECK_RETENTION_S) * 1000,
                expected,
            ]
            return args, lambda _reply: prepared.digest

        reply = await ctx.chains.run(label, "CHECK", keys, build)
        kind = reply[0]
        if kind == "S":
            guess = as_bytes(reply[1]).decode() or None
            # the registry's subject (it can only be that one), known until the proof ends
            if jti is not None and guess is not None and guess != subject and reply[3]:
                end_us = to_us(decoders.proof.decode(reply[3]).expires_at)
                ctx.subjects.put(jti, guess, end_us, now_us)
            expected = int(reply[2])
            continue
        status = int(reply[1])
        ctx.statuses.note(entry, status)
        if kind == "R":
            expected = status
            continue
        seen = Seen(int(reply[2]), int(reply[3])) if jti is not None else None
        return CheckOutcome(status, seen)
    raise RuntimeError("check_and_record: the proof registry or the status kept changing")


# -- rate limits --------------------------------------------------------------------------
async def hit_rate(ctx: Ctx, key: str, window_s: int, now: datetime) -> int:
    """INCR and EXPIRE in one script on the counter's slot: atomic across workers."""
    start = window_start(now, window_s)
    count = await ctx.scripts.run(
        "HIT_RATE", [Layout.rate_key(key, start)], [window_s + RATE_GRACE_S]
    )
    return int(count)


async def undo_hit(ctx: Ctx, key: str, window_s: int, now: datetime) -> None:
    """DECR in a script that leaves a counter that is gone (or at zero) alone."""
    await ctx.scripts.run("UNDO_HIT", [Layout.rate_key(key, window_start(now, window_s))], [])


async def rate_count(ctx: Ctx, key: str, window_s: int, now: datetime) -> int:
    value = await ctx.scripts.run(
        "READ_VALUE", [Layout.rate_key(key, window_start(now, window_s))], []
    )
    return int(value or 0)
