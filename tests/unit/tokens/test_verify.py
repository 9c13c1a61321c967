from __future__ import annotations

from datetime import timedelta

import pytest
from tokens_fixtures import ISS, LIST_URI, NOW, NOW_S, claims, keyset, proof, registry, status_list

from app.tokens import (
    LAST_EPOCH,
    SeenInfo,
    SigningKey,
    TokenCheck,
    build_result,
    check_token,
    sign,
    verify_offline,
)

KEY = SigningKey.generate()
OTHER = SigningKey.generate()
REG = registry()


def offline(token: str, statuses: dict[int, int] | None = None, **kw):
    lists = kw.pop("lists", None)
    if lists is None:
        lists = {LIST_URI: status_list(KEY, statuses)[1]}
    return verify_offline(
        token,
        jwks=kw.pop("jwks", keyset(KEY)),
        status_lists=lists,
        now=kw.pop("now", NOW),
        registry=REG,
        **kw,
    )


def test_valid_shows_type_holder_and_validity() -> None:
    r = offline(proof(KEY))
    assert (r.result, r.reason, r.revocation_checked) == ("valid", None, "status_list")
    assert r.entitlement.type == "social_tariff" and r.entitlement.label == "Social tariff"
    assert r.holder.name == "J. PEETERS"
    assert r.valid_until == "2025-06-01T12:04:30Z" and r.checked_at == "2025-06-01T12:00:00Z"
    assert r.status_list_age_s == 600 and r.attributes is None


def test_parking_card_shows_attributes_never_the_name() -> None:
    token = proof(KEY, ent="parking_card", card_number="1234567800", card_valid_until="2030-01-01")
    r = offline(token)
    assert r.result == "valid" and r.holder is None
    assert r.attributes == {"card_number": "1234567800", "card_valid_until": "2030-01-01"}


@pytest.mark.parametrize(("status", "reason"), [(1, "revoked"), (2, "suspended"), (3, "revoked")])
def test_revoked_and_suspended_keep_holder_data(status: int, reason: str) -> None:
    r = offline(proof(KEY), {7: status})
    assert (r.result, r.reason) == ("invalid", reason)
    assert r.holder.name == "J. PEETERS" and r.entitlement is not None


def test_expired_keeps_holder_data() -> None:
    r = offline(proof(KEY, iat=NOW_S - 400, exp=NOW_S - 61))
    assert (r.result, r.reason) == ("invalid", "expired")
    assert r.holder is not None


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (proof(OTHER), "unknown_key"),
        (proof(KEY)[:-4] + "AAAA", "bad_signature"),
        (proof(KEY, ent="nope"), "malformed"),
        (proof(KEY, jti="short"), "malformed"),
        (proof(KEY, iat="1"), "malformed"),
        (proof(KEY, exp=NOW_S - 30), "malformed"),  # exp == iat
        (proof(KEY, status={"status_list": {"idx": -1, "uri": LIST_URI}}), "malformed"),
        (proof(KEY, status={"status_list": {"idx": True, "uri": LIST_URI}}), "malformed"),
        (proof(KEY, ent="parking_card", card_number=1234567800, card_valid_until="x"), "malformed"),
        (proof(KEY, ent="parking_card"), "malformed"),
        (sign(claims(), KEY, typ="JWT"), "malformed"),
    ],
)
def test_forged_or_malformed_show_nothing(token: str, reason: str) -> None:
    r = offline(token)
    assert (r.result, r.reason) == ("invalid", reason)
    assert r.holder is None and r.entitlement is None and r.valid_until is None


def test_not_permitted_reveals_nothing_even_when_revoked_or_expired() -> None:
    for token in (proof(KEY), proof(KEY, iat=NOW_S - 999, exp=NOW_S - 500)):
        r = offline(token, {7: 1}, allowed_types=["parking_card"])
        assert (r.result, r.reason, r.holder, r.entitlement) == (
            "invalid",
            "not_permitted",
            None,
            None,
        )


def test_issuer_is_checked_when_given() -> None:
    check = check_token(
        proof(KEY),
        {KEY.kid: KEY.public()},
        now=NOW,
        skew_s=60,
        registry=REG,
        allowed_types=None,
        issuer="https://other",
    )
    assert check == TokenCheck(claims=None, failure="malformed")
    check = check_token(
        proof(KEY),
        {KEY.kid: KEY.public()},
        now=NOW,
        skew_s=60,
        registry=REG,
        allowed_types=None,
        issuer=ISS,
    )
    assert check.failure is None and check.claims.idx == 7 and check.claims.kid == KEY.kid


def test_not_yet_valid_online_and_check_clock_offline() -> None:
    token = proof(KEY, iat=NOW_S + 61, exp=NOW_S + 300)
    check = check_token(
        token, {KEY.kid: KEY.public()}, now=NOW, skew_s=60, registry=REG, allowed_types=None
    )
    assert check.failure == "not_yet_valid" and check.claims is not None
    online = build_result(check, status=None, now=NOW, registry=REG, revocation_checked="online")
    assert (online.result, online.reason) == ("invalid", "not_yet_valid")
    assert online.holder is None  # not a disclosing reason
    assert (offline(token).result, offline(token).reason) == ("undetermined", "check_clock")


def test_online_result_carries_seen_and_id() -> None:
    check = check_token(
        proof(KEY), {KEY.kid: KEY.public()}, now=NOW, skew_s=60, registry=REG, allowed_types=None
    )
    r = build_result(
        check,
        status=0,
        now=NOW,
        registry=REG,
        revocation_checked="online",
        lang="fr",
        seen=SeenInfo(count=2, organisations=1),
        verification_id="v1",
    )
    assert r.result == "valid" and r.entitlement.label == "Tarif social"
    assert r.seen == SeenInfo(count=2, organisations=1) and r.verification_id == "v1"


def test_name_hidden_when_absent() -> None:
    r = offline(proof(KEY, nam=None))
    assert r.result == "valid" and r.holder is None


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"now": NOW.replace(year=2024)}, "check_clock"),
        ({"jwks": keyset(KEY, fetched_at=NOW + timedelta(seconds=61))}, "check_clock"),
        ({"lists": {LIST_URI: status_list(KEY, iat=NOW_S + 61)[1]}}, "check_clock"),
        ({"jwks": keyset(KEY, fetched_at=NOW - timedelta(days=2))}, "stale_keys"),
        ({"lists": {}}, "stale_status_list"),
        ({"lists": {LIST_URI: status_list(KEY, iat=NOW_S - 86401)[1]}}, "stale_status_list"),
    ],
)
def test_undetermined(kw: dict, reason: str) -> None:
    r = offline(proof(KEY), **kw)
    assert (r.result, r.reason, r.holder, r.revocation_checked) == (
        "undetermined",
        reason,
        None,
        "none",
    )


def test_unknown_kid_with_stale_keys_is_undetermined_bad_signature_is_not() -> None:
    stale = keyset(KEY, fetched_at=NOW - timedelta(days=2))
    assert offline(proof(OTHER), jwks=stale).reason == "stale_keys"
    assert offline(proof(KEY)[:-4] + "AAAA", jwks=stale).reason == "bad_signature"


def test_index_beyond_the_list_is_stale_not_valid() -> None:
    r = offline(proof(KEY, status={"status_list": {"idx": 2**20, "uri": LIST_URI}}))
    assert (r.result, r.reason) == ("undetermined", "stale_status_list")


def test_leeway_boundaries() -> None:
    last = proof(KEY, iat=NOW_S - 400, exp=NOW_S + 1)  # its last second
    assert offline(last).result == "valid"
    past = proof(KEY, iat=NOW_S - 400, exp=NOW_S)  # now == exp: no leeway on the end
    assert offline(past).reason == "expired"
    early = proof(KEY, iat=NOW_S + 60, exp=NOW_S + 300)  # now == iat - 60
    assert offline(early).result == "valid"


def test_the_skew_tolerance_is_configurable_and_never_stretches_exp() -> None:
    ahead = proof(KEY, iat=NOW_S + 200, exp=NOW_S + 500)  # issuer clock 200 s ahead
    assert offline(ahead).reason == "check_clock"
    assert offline(ahead, skew_s=300).result == "valid"
    ended = proof(KEY, iat=NOW_S - 400, exp=NOW_S - 21)
    assert offline(ended, skew_s=300).reason == "expired"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        offline(proof(KEY), now=NOW.replace(tzinfo=None))


def test_times_a_result_cannot_show_are_malformed_not_a_crash() -> None:
    """A genuine signature over an `exp` past year 9999 crashed the result's formatting."""
    for bad in ({"exp": LAST_EPOCH + 1}, {"iat": -1}):
        r = offline(proof(KEY, **bad))
        assert (r.result, r.reason) == ("invalid", "malformed")
    r = offline(proof(KEY, exp=LAST_EPOCH))
    assert r.result == "valid" and r.valid_until == "9999-12-31T23:59:59Z"
