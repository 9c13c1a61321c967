"""The fast codecs against the reference ones they replaced, outcome for outcome.

`app.tokens._codec` proves inputs acceptable with shortcuts (msgspec plus a duplicate
proof, an alphabet deletion plus a last-character check). These tests pin that every
input gets exactly what the straightforward implementations below give it: the same
value, or a `CodecError` with the same message.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.tokens._codec import (
    MAX_DEPTH,
    CodecError,
    b64url_decode,
    b64url_encode,
    json_compact,
    json_object,
)

# --- reference implementations (the previous, obviously-correct code) -------------

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def ref_b64url_decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CodecError("not canonical base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CodecError("not base64url") from exc
    if b64url_encode(data) != text:
        raise CodecError("non-canonical base64url (trailing bits set)")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise CodecError(f"duplicate member {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise CodecError(f"{name} is not JSON")


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def ref_depth(text: str) -> int:
    """The deepest nesting of `text`, strings taken out first (a second way of counting)."""
    bare = _JSON_STRING.sub("", text)
    steps = [1 if c in "[{" else -1 for c in bare if c in "[]{}"]
    return max(itertools.accumulate(steps), default=0)


def ref_json_object(data: bytes | str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise CodecError("not JSON") from exc
    if ref_depth(text) > MAX_DEPTH:
        raise CodecError("JSON nested too deep")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CodecError("not JSON") from exc
    if not isinstance(value, dict):
        raise CodecError("not a JSON object")
    return value


# --- comparison -----------------------------------------------------------------


def typed(value: Any) -> Any:
    """A comparable form that tells 1, 1.0, True, 0.0 and -0.0 (and inf) apart."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", repr(value), math.copysign(1, value))
    return (type(value).__name__, value)


def outcome(fn: Any, arg: Any) -> Any:
    try:
        value = fn(arg)
    except CodecError as exc:
        return ("error", str(exc))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # typed() of the deeply nested cases
    try:
        return ("ok", repr(typed(value)))
    finally:
        sys.setrecursionlimit(limit)


def same_json(data: bytes | str) -> None:
    assert outcome(json_object, data) == outcome(ref_json_object, data), data
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            return
        assert outcome(json_object, raw) == outcome(ref_json_object, raw), raw


def same_b64(text: str) -> None:
    assert outcome(b64url_decode, text) == outcome(ref_b64url_decode, text), text


# --- JSON -------------------------------------------------------------------------

JSON_CASES = [
    "{}",
    " {} ",
    '{"a":1}',
    '{"a":1,"a":1}',
    '{"a":1,"b":{"a":1,"a":2}}',
    '{"a":[{"x":1},{"x":1,"x":2}]}',
    '{"a":"x:y","a":1}',
    '{"a:b":1,"a:b":2}',
    '{"a":"x:y","b":"z"}',
    '{"\\u0061":1,"a":2}',
    '{"a":1,"\\u0061":2}',
    '{"a\\u003a":1,"a:":2}',
    '{"a":"\\u003a","b":1}',
    '{ "a" : 1 , "a" : 2 }',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":-Infinity}',
    '{"a":1e400}',
    '{"a":-1e400,"a":1}',
    '{"a":1e400,"b":NaN}',
    '{"a":"\\ud800"}',
    '{"a":"\\ud800","a":1}',
    '{"a":123456789012345678901234567890}',
    '{"a":-0}',
    '{"a":-0.0}',
    '{"a":1.0,"b":1E5,"c":1e-400,"d":0.1}',
    '{"a":true,"b":false,"c":null}',
    '{"a":"\x01"}',
    '{"a":"\x7f\u2028é€😀"}',
    "\ufeff{}",
    "[]",
    '[{"a":1,"a":2}]',
    '"str"',
    "1",
    "null",
    "",
    "{",
    '{"a":1,}',
    '{"a":01}',
    "{} x",
    '{"a":1}{"b":2}',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '{"a":' * 600 + "1" + "}" * 600,
    '{"a":' * 600 + "[1]" + "}" * 600,
    '{"k":' + "[" * 900 + "]" * 900 + "}",
    '{"k":' + "[" * 900 + "]" * 900 + ',"k":1}',
    '{"k":' + "[" * 511 + "]" * 511 + "}",  # the limit: read
    '{"k":' + "[" * 512 + "]" * 512 + "}",  # one past it: refused
    '{"k":"' + "[" * 600 + '"}',  # brackets inside a string are text
    "[" * 512 + "]" * 512,  # the shortest texts either side of the length shortcut
    "[" * 513,
    "[" * 512,
    '{"k":"\\"' + "[" * 600 + '"}',  # an escaped quote does not end the string
]


def test_nesting_is_read_to_the_fixed_limit_whatever_the_caller_s_stack() -> None:
    at_limit = '{"k":' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    past = '{"k":' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"

    def from_deep_in_a_stack(frames: int, text: str) -> Any:
        if frames:
            return from_deep_in_a_stack(frames - 1, text)
        return outcome(json_object, text)

    for frames in (0, 200, 400):
        assert from_deep_in_a_stack(frames, at_limit)[0] == "ok", frames
        assert from_deep_in_a_stack(frames, past) == ("error", "JSON nested too deep"), frames


@pytest.mark.parametrize("text", JSON_CASES)
def test_json_cases_match_the_reference(text: str) -> None:
    same_json(text)


def test_json_bytes_that_are_not_utf8_match_the_reference() -> None:
    for raw in (b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b"\xef\xbb\xbf{}", b'{"a":"\xc3"}'):
        assert outcome(json_object, raw) == outcome(ref_json_object, raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """Serialised objects in varied styles, some with a member repeated."""
    obj = draw(st.dictionaries(st.text(max_size=4), json_values, max_size=5))
    style = draw(st.sampled_from(["compact", "spaced", "ascii", "indent"]))
    kwargs: dict[str, Any] = {
        "compact": {"separators": (",", ":"), "ensure_ascii": False},
        "spaced": {"ensure_ascii": False},
        "ascii": {"separators": (",", ":")},
        "indent": {"indent": 1},
    }[style]
    text = json.dumps(obj, **kwargs)
    if obj and draw(st.booleans()):
        # repeat one member: {"k": v, ..., "k": w}
        key = draw(st.sampled_from(sorted(obj)))
        member = json.dumps({key: draw(json_values)}, **kwargs)[1:-1]
        text = text[:-1].rstrip() + "," + member + "}"
    return text


@settings(max_examples=400)
@given(json_texts())
def test_generated_json_matches_the_reference(text: str) -> None:
    same_json(text)


@settings(max_examples=400)
@given(json_texts(), st.data())
def test_mutated_json_matches_the_reference(text: str, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text)))
        piece = data.draw(st.sampled_from(list('{}[]":,\\ 0-1.eE+aNInfuly\x00')))
        cut = data.draw(st.integers(0, 1))
        text = text[:pos] + piece + text[pos + cut :]
    same_json(text)


# --- base64url --------------------------------------------------------------------

B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=600)
@given(st.text(alphabet=B64_ALPHABET, max_size=12))
def test_alphabet_texts_match_the_reference(text: str) -> None:
    same_b64(text)


@settings(max_examples=600)
@given(st.text(alphabet=B64_ALPHABET + "+/=. \n\t\x00é€😀", max_size=12))
def test_other_texts_match_the_reference(text: str) -> None:
    same_b64(text)


@given(st.binary(max_size=40))
def test_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize("length", [2, 3, 6, 7])
def test_every_last_character_matches_the_reference(length: int) -> None:
    for last in B64_ALPHABET:
        same_b64("A" * (length - 1) + last)


@pytest.mark.parametrize("length", [2, 3, 4])
def test_every_character_in_every_position_matches_the_reference(length: int) -> None:
    # what strict binascii refuses must be exactly what falls outside the alphabet,
    # including "+", "/", "=", whitespace and the character the fast path maps them to
    for position in range(length):
        for code in range(256):
            text = "A" * position + chr(code) + "A" * (length - position - 1)
            same_b64(text)


# --- compact JSON for signing: the bytes the stdlib wrote before ------------------------
def ref_json_compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


claim_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.dictionaries(st.text(max_size=8), claim_values, max_size=8))
def test_compact_json_is_byte_for_byte_the_reference(claims: dict[str, Any]) -> None:
    """Headers and claims (strings, integers, nesting) serialise to the very bytes the
    stdlib gave: member order kept, no spaces, non-ASCII unescaped."""
    assert json_compact(claims) == ref_json_compact(claims)
