"""Strict base64url and JSON codecs shared by the JWS and status-list code.

Strictness is a security property here, not pedantry: if two different byte strings
decode to the same token, a signature check over one says nothing reliable about what
the other "means", and lenient parsers are where JWT libraries have historically
disagreed with each other (padding, stray characters, duplicate JSON members).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

__all__ = ["CodecError", "b64url_decode", "b64url_encode", "json_compact", "json_object"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class CodecError(ValueError):
    """Input that is not canonical base64url or not a strict JSON object."""


def b64url_encode(data: bytes) -> str:
    """Encode without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical, unpadded base64url.

    Canonical means: only the 64 alphabet characters, no padding, and no set bits in
    the unused trailing bits. Checked by re-encoding, so exactly one text maps to
    each byte string.

    Raises:
        CodecError: anything else.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CodecError("not canonical base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex guards it
        raise CodecError("not base64url") from exc
    if b64url_encode(data) != text:
        # e.g. "AB" and "AC" decode to the same byte; only "AA"-style text is canonical
        raise CodecError("non-canonical base64url (trailing bits set)")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # {"exp": 1, "exp": 9999999999}: parsers disagree on which one wins
            raise CodecError(f"duplicate member {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise CodecError(f"{name} is not JSON")


def json_object(data: bytes | str) -> dict[str, Any]:
    """Parse strict JSON that must be an object: UTF-8, no duplicate members, no NaN.

    Raises:
        CodecError: not UTF-8, not JSON, not an object, or a duplicate member.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CodecError("not JSON") from exc
    if not isinstance(value, dict):
        raise CodecError("not a JSON object")
    return value


def json_compact(value: Any) -> bytes:
    """Serialise without spaces, keeping member order: every byte counts in a QR code."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
