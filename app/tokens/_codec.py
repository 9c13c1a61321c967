"""Strict base64url and JSON codecs shared by the JWS and status-list code.

Strictness is a security property here, not pedantry: if two different byte strings
decode to the same token, a signature check over one says nothing reliable about what
the other "means", and lenient parsers are where JWT libraries have historically
disagreed with each other (padding, stray characters, duplicate JSON members).

Both decoders sit on the verification hot path, so each has a fast path that proves
its input acceptable with a few C-level operations and otherwise hands the input to
the reference implementation, which alone decides what is refused and why:

* base64url: a translation to standard base64 maps every character outside the
  alphabet to one the decoder (msgspec's, on a JSON string) refuses, canonicity is
  checked by the value of the last character alone;
* JSON: msgspec decodes; the result is returned only when duplicate members are
  provably absent, else the `json` module with a duplicate-rejecting hook re-decodes
  and has the last word (so NaN, ``1e400``, lone surrogates, duplicates and every
  syntax error are handled, and reported, exactly as by `json` alone).

Nesting has a fixed limit, `MAX_DEPTH` containers (the outer object counted), the same
in the browser's verifier (web/src/common/core/codec.js): Python's parsers would
otherwise give up wherever its recursion limit falls, which depends on the caller's
stack, and the two verifiers would disagree on depths near it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec

__all__ = [
    "MAX_DEPTH",
    "CodecError",
    "b64url_decode",
    "b64url_encode",
    "json_compact",
    "json_object",
]

#: the deepest nesting of arrays and objects read (the outer object is level 1)
MAX_DEPTH = 512

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: base64url to standard base64, every other byte (``+/=``, quotes, backslashes,
#: whitespace, …) to "!", which no base64 decoder accepts
_TO_STANDARD = bytes(
    _STANDARD[_ALPHABET.index(b)] if b in _ALPHABET else ord("!") for b in range(256)
)
#: the text as a quoted, padded JSON string of standard base64: the form msgspec decodes
#: into bytes, twice as fast as `binascii`
_QUOTE_PADDED = (b'"', b'"', b'=="', b'="')
_BASE64_DECODE = msgspec.json.Decoder(bytes).decode
# The last character of a canonical text by len % 4: with 2 characters left over only
# its top 2 bits carry data (value % 16 == 0), with 3 its top 4 (value % 4 == 0).
_CANONICAL_LAST: tuple[frozenset[str], ...] = (
    frozenset(_ALPHABET.decode()),
    frozenset(),  # len % 4 == 1 cannot be base64 at all
    frozenset(chr(_ALPHABET[v]) for v in range(0, 64, 16)),
    frozenset(chr(_ALPHABET[v]) for v in range(0, 64, 4)),
)

_MSGSPEC_DECODER = msgspec.json.Decoder()
_MSGSPEC_ENCODE = msgspec.json.Encoder().encode


class CodecError(ValueError):
    """Input that is not canonical base64url or not a strict JSON object."""


def b64url_encode(data: bytes) -> str:
    """Encode without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical, unpadded base64url.

    Canonical means: only the 64 alphabet characters, no padding, and no set bits in
    the unused trailing bits, so exactly one text maps to each byte string.

    Raises:
        CodecError: anything else.
    """
    rest = len(text) % 4
    if rest == 1 or not text.isascii():
        raise CodecError("not canonical base64url")
    try:
        # Only alphabet characters survive the translation (no escape, quote or "=" can
        # reach the JSON decoder), and the decoder refuses the "!" of any other.
        data = _BASE64_DECODE(
            b'"' + text.encode("ascii").translate(_TO_STANDARD) + _QUOTE_PADDED[rest]
        )
    except msgspec.DecodeError:
        raise CodecError("not canonical base64url") from None
    if rest and text[-1] not in _CANONICAL_LAST[rest]:
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


def _strict_json_object(text: str) -> dict[str, Any]:
    """The reference parser: the `json` module, refusing duplicates and constants."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CodecError("not JSON") from exc
    except CodecError:
        raise
    except ValueError as exc:  # an integer past CPython's 4,300-digit conversion limit
        raise CodecError("not JSON") from exc
    if not isinstance(value, dict):
        raise CodecError("not a JSON object")
    return value


def _members_and_colons(value: Any) -> int:
    """Members of every object in `value` plus the colons in every string of it."""
    if isinstance(value, str):
        return value.count(":")
    count = 0
    if isinstance(value, dict):
        count = len(value)
        for key, item in value.items():
            count += key.count(":")
            if not isinstance(item, int | float | bool | None):
                count += _members_and_colons(item)
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, int | float | bool | None):
                count += _members_and_colons(item)
    return count


def _has_no_duplicates(value: dict[str, Any], text: str, data: bytes | None) -> bool:
    """Whether the JSON `text` (or its UTF-8 `data`) that decoded to `value` is free of
    duplicate members. False means "not proven", never "has duplicates".

    * `data` re-encodes to itself: it is the serialisation of a dict, and a dict has
      no duplicate keys (the common case: compact JSON such as ours).
    * Without escapes, every string's text is its value, so the colons of `text` are
      one per member plus those inside strings. A duplicate drops a member (and its
      strings) from `value`, so the count of `value` falls short of the text's.
    """
    try:
        if data is not None and _MSGSPEC_ENCODE(value) == data:
            return True
        return "\\" not in text and _members_and_colons(value) == text.count(":")
    except RecursionError:  # deep nesting: let the reference parser judge it
        return False


def _too_deep(text: str) -> bool:
    """Whether `text` nests arrays and objects deeper than `MAX_DEPTH` (outside strings).

    Only texts with more than MAX_DEPTH opening brackets are scanned: a claims set
    never has, so the hot path pays two C-level counts, or only a length check for a
    text too short to hold that many."""
    if len(text) <= MAX_DEPTH or text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def json_object(data: bytes | str) -> dict[str, Any]:
    """Parse strict JSON that must be an object: UTF-8, no duplicate members, no NaN,
    at most `MAX_DEPTH` levels deep.

    Raises:
        CodecError: not UTF-8, not JSON, too deep, not an object, or a duplicate member.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise CodecError("not JSON") from exc
    if _too_deep(text):
        raise CodecError("JSON nested too deep")
    try:
        value = _MSGSPEC_DECODER.decode(text)
    except (msgspec.DecodeError, RecursionError):
        value = None  # the reference parser decides, and says why
    if isinstance(value, dict) and _has_no_duplicates(
        value, text, data if isinstance(data, bytes) else None
    ):
        return value
    return _strict_json_object(text)


def json_compact(value: Any) -> bytes:
    """Serialise without spaces, keeping member order, UTF-8 unescaped: every byte counts
    in a QR. msgspec writes the same bytes as ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False)`` for the strings, integers and nesting of claims and headers, in
    a twelfth of the time (twice per signature)."""
    return _MSGSPEC_ENCODE(value)
