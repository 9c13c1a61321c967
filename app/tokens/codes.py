"""Twelve-digit numeric codes: a fallback for a QR code, bound to one proof.

Ten random digits plus two mod-97 check digits (``97 - n % 97``, so 01..97). Mod 97
catches every single-digit substitution and every adjacent transposition, so a typo
is refused before any lookup — it neither costs the verifier a rate-limit attempt nor
reaches the store.

The store never sees the digits: a code is stored and looked up under a keyed digest
(`code_digest`), as API keys are stored as hashes. With only 10^10 codes, a plain hash
would be reversed by enumeration; without the server's secret, a copy of the database
or of a Redis dump does not give the codes of the live proofs it holds.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable

from app.tokens.errors import InvalidInput

__all__ = [
    "CODE_DIGEST_LENGTH",
    "CODE_LENGTH",
    "code_digest",
    "code_digest_key",
    "format_code",
    "new_code",
    "normalize_code",
]

CODE_LENGTH = 12
#: hex characters of a stored code digest (128 bits)
CODE_DIGEST_LENGTH = 32
_DIGITS = frozenset("0123456789")
#: what the code key is derived for: a key of its own, so that a code digest is never
#: comparable with anything else keyed by the same secret (the NRN pseudonyms)
_CODE_KEY_LABEL = b"statuspass numeric code digest v1"


#: how many codes there are before their check digits
_CODES = 10**10


def _check(first10: str) -> str:
    return f"{97 - (int(first10) % 97):02d}"


def new_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """Return a fresh 12-digit code.

    Args:
        randbelow: the random source: the OS's CSPRNG outside tests (`secrets.randbelow`
            or issuance's `app.domain.ids.random_below`), because a guessable code would
            let anyone walk the code space.
    """
    first10 = randbelow(_CODES)
    return f"{first10:010d}{97 - first10 % 97:02d}"


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


def code_digest_key(secret: bytes) -> bytes:
    """The key of `code_digest`, derived from the server's pseudonymisation secret.

    Args:
        secret: the pseudonymisation secret (``pseudonym.key`` under the keys folder).
    """
    return hmac.digest(secret, _CODE_KEY_LABEL, "sha256")


def code_digest(code: str, key: bytes) -> str:
    """What the store keeps of a code: HMAC-SHA-256 of its 12 digits, first 128 bits, hex.

    128 bits keep Redis's code keys short, and collisions among the 10^10 possible
    codes out of reach (about 10^-19 for all of them together).

    Args:
        code: 12 digits as `new_code` or `normalize_code` return them.
        key: from `code_digest_key`.
    """
    mac = _keyed(key).copy()
    mac.update(code.encode("ascii"))
    return mac.digest()[: CODE_DIGEST_LENGTH // 2].hex()


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> hmac.HMAC:
    """HMAC-SHA-256 with `key` set up once: each digest copies it. `hmac.digest` set the
    key up on every call, and OpenSSL 3 looks the algorithm up each time: 3.7 against
    2.3 µs per digest, one per issuance and per code lookup."""
    return hmac.new(key, digestmod="sha256")
