"""Shared builders for the token tests (imported by name: the test dir is on sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.domain.registry import Registry, load_registry
from app.tokens import PROOF_TYP, KeySet, SigningKey, StatusList, sign, sign_status_list

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
ISS = "https://statuspass.example.org"
LIST_URI = ISS + "/v1/status-lists/1"
LIST_SIZE = 2**14  # entries; tests needing 2**20 build their own


def registry() -> Registry:
    return load_registry()


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISS,
        "iat": NOW_S - 30,
        "exp": NOW_S + 270,
        "jti": "AAAAAAAAAAAAAAAAAAAAAA",
        "ent": "social_tariff",
        "nam": "J. PEETERS",
        "status": {"status_list": {"idx": 7, "uri": LIST_URI}},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def proof(key: SigningKey, **overrides: Any) -> str:
    return sign(claims(**overrides), key, typ=PROOF_TYP)


def status_list(
    key: SigningKey, statuses: dict[int, int] | None = None, *, iat: int = NOW_S - 600
) -> tuple[str, StatusList]:
    packed = bytearray(LIST_SIZE // 4)
    for idx, value in (statuses or {}).items():
        packed[idx // 4] |= value << (2 * (idx % 4))
    token = sign_status_list(
        bytes(packed), uri=LIST_URI, key=key, iat=iat, exp=iat + 86400, ttl=3600
    )
    return token, StatusList(uri=LIST_URI, iat=iat, exp=iat + 86400, ttl=3600, packed=bytes(packed))


def keyset(key: SigningKey, *, fetched_at: datetime = NOW, max_age_s: int = 86400) -> KeySet:
    return KeySet(keys={key.kid: key.public()}, fetched_at=fetched_at, max_age_s=max_age_s)
