"""Twelve-digit numeric codes: a fallback for a QR code, bound to one proof.

Ten random digits plus two mod-97 check digits (``97 - n % 97``, so 01..97). Mod 97
catches every single-digit substitution and every adjacent transposition, so a typo
is refused before any lookup — it neither costs the verifier a rate-limit attempt nor
reaches the store.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from app.tokens.errors import InvalidInput

__all__ = ["CODE_LENGTH", "format_code", "new_code", "normalize_code"]

CODE_LENGTH = 12
_DIGITS = frozenset("0123456789")


def _check(first10: str) -> str:
    return f"{97 - (int(first10) % 97):02d}"


def new_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """Return a fresh 12-digit code.

    Args:
        randbelow: the random source; `secrets.randbelow` outside tests, because a
            guessable code would let anyone walk the code space.
    """
    first10 = f"{randbelow(10**10):010d}"
    return first10 + _check(first10)


def normalize_code(value: str) -> str:
    """Validate a code as typed and return its 12 digits.

    ASCII spaces and dashes are ignored (``1234 5678 9012``, ``1234-5678-9012``).

    Raises:
        InvalidInput: any other character, a wrong length, or wrong check digits.
    """
    digits = value.replace(" ", "").replace("-", "")
    # ASCII only: str.isdigit() accepts other scripts' digits and superscripts.
    if not set(digits) <= _DIGITS:
        raise InvalidInput("a code holds digits only", field="code")
    if len(digits) != CODE_LENGTH:
        raise InvalidInput(f"a code has {CODE_LENGTH} digits", field="code")
    if digits[10:] != _check(digits[:10]):
        raise InvalidInput("the code's check digits are wrong: a typo?", field="code")
    return digits


def format_code(code: str) -> str:
    """Format 12 digits for display as three groups of four: ``1234 5678 9012``."""
    return f"{code[0:4]} {code[4:8]} {code[8:12]}"
