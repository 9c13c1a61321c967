"""Belgian national register numbers (NRN): validation, test generation, pseudonyms.

An NRN is YYMMDD (birth date, sometimes with unknown parts), a 3-digit serial
(odd for men, even for women) and a 2-digit check: ``97 - (first nine digits % 97)``.
For people born from 2000 on, the check is computed over ``"2" + first nine`` instead.
The century is not written in the number, so a validator accepts either rule.

The NRN is personal data: it never leaves this module other than as the keyed hash
from `pseudonym`, which is what records are keyed by.
"""

from __future__ import annotations

import datetime
import hmac
import random

from app.tokens.errors import InvalidInput

__all__ = ["generate_nrn", "nrn_check", "pseudonym", "validate_nrn"]

_STRIP_SEPARATORS = str.maketrans("", "", ".- ")


def nrn_check(first9: str, *, post_2000: bool) -> int:
    """Return the two check digits (as an int, 1..97) for the first nine digits.

    Args:
        first9: the nine digits of birth date and serial.
        post_2000: use the rule for people born from 2000 on (prefix "2").
    """
    base = int("2" + first9) if post_2000 else int(first9)
    return 97 - (base % 97)


def strip_separators(value: str) -> str:
    """The NRN as typed without its dots, dashes and spaces (not yet validated)."""
    return value.translate(_STRIP_SEPARATORS)


def validate_nrn(value: str) -> str:
    """Validate an NRN and return its 11 digits.

    Dots, dashes and spaces are accepted as separators (``85.07.30-033.28``).

    Args:
        value: the NRN as typed.

    Returns:
        The 11 digits without separators.

    Raises:
        InvalidInput: not 11 ASCII digits, or neither check rule holds.
    """
    # Only ASCII digits: str.isdigit() alone would accept "٣" or "³", which int() then
    # happily converts, letting two different strings hash to the same pseudonym.
    digits = strip_separators(value)
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidInput("a national register number holds digits only", field="nrn")
    if len(digits) != 11:
        raise InvalidInput("a national register number has 11 digits", field="nrn")
    first9, check = digits[:9], int(digits[9:])
    if check not in (nrn_check(first9, post_2000=False), nrn_check(first9, post_2000=True)):
        raise InvalidInput("the national register number's check digits are wrong", field="nrn")
    return digits


def generate_nrn(rng: random.Random, *, born: datetime.date | None = None) -> str:
    """Generate a valid, synthetic NRN for tests and demos.

    Args:
        rng: the random source (seed it for reproducible tests).
        born: the birth date; a random date between 1930 and 2010 when None.

    Returns:
        11 digits that pass `validate_nrn`.
    """
    if born is None:
        start = datetime.date(1930, 1, 1).toordinal()
        end = datetime.date(2010, 12, 31).toordinal()
        born = datetime.date.fromordinal(rng.randint(start, end))
    serial = rng.randint(1, 997)
    first9 = f"{born:%y%m%d}{serial:03d}"
    check = nrn_check(first9, post_2000=born.year >= 2000)
    return f"{first9}{check:02d}"


def pseudonym(nrn: str, secret: bytes) -> str:
    """Return the keyed hash records are stored under: HMAC-SHA-256(secret, nrn), hex.

    A plain hash would be reversible by enumerating the ~10^11 possible numbers; the
    server secret makes that enumeration useless to anyone without it.

    Args:
        nrn: a validated NRN (11 digits, no separators).
        secret: the server's pseudonymisation secret.
    """
    # the one-shot form: the same HMAC without the Python layers of an `hmac.HMAC` object
    return hmac.digest(secret, nrn.encode("ascii"), "sha256").hex()
