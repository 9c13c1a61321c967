from __future__ import annotations

import datetime
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidInput
from app.tokens import generate_nrn, pseudonym, validate_nrn
from app.tokens.nrn import nrn_check

dates = st.dates(min_value=datetime.date(1930, 1, 1), max_value=datetime.date(2010, 12, 31))


@given(st.integers(0, 2**32), dates)
def test_generated_numbers_validate(seed: int, born: datetime.date) -> None:
    nrn = generate_nrn(random.Random(seed), born=born)
    assert len(nrn) == 11
    assert nrn.startswith(f"{born:%y%m%d}")
    assert validate_nrn(nrn) == nrn


@given(st.integers(0, 2**32), st.integers(0, 10), st.integers(1, 9))
def test_any_single_digit_change_is_rejected(seed: int, pos: int, delta: int) -> None:
    """A typo is caught, except where the NRN scheme itself cannot catch it.

    The century is not written in an NRN, so both check rules are accepted. A change
    that adds 2*10**9 (mod 97) to the first nine digits turns a valid pre-2000 number
    into a valid post-2000 one (and back): that happens only for +-6 on the second
    digit (6*10**7 = +-2*10**9 mod 97), is the scheme's, not ours, and is asserted precisely here.
    """
    born_post_2000 = random.Random(seed).random() < 0.5
    born = datetime.date(2003 if born_post_2000 else 1971, 5, 17)
    nrn = generate_nrn(random.Random(seed), born=born)
    changed = nrn[:pos] + str((int(nrn[pos]) + delta) % 10) + nrn[pos + 1 :]
    shift = int(changed[:9]) - int(nrn[:9])
    crosses_century = pos < 9 and (shift - (2 if born_post_2000 else -2) * 10**9) % 97 == 0
    if crosses_century:
        assert validate_nrn(changed) == changed
        assert int(changed[9:]) == nrn_check(changed[:9], post_2000=not born_post_2000)
        return
    with pytest.raises(InvalidInput) as err:
        validate_nrn(changed)
    assert err.value.field == "nrn"


def test_post_2000_rule_is_used_for_recent_births() -> None:
    nrn = generate_nrn(random.Random(1), born=datetime.date(2004, 2, 29))
    assert int(nrn[9:]) == nrn_check(nrn[:9], post_2000=True)
    assert int(nrn[9:]) != nrn_check(nrn[:9], post_2000=False)
    assert validate_nrn(nrn) == nrn


def test_separators_are_accepted() -> None:
    nrn = generate_nrn(random.Random(3), born=datetime.date(1985, 7, 30))
    typed = f"{nrn[:2]}.{nrn[2:4]}.{nrn[4:6]}-{nrn[6:9]} {nrn[9:]}"
    assert validate_nrn(typed) == nrn


# shapes only: none of these is a valid number (real-looking NRNs never enter the repo)
@pytest.mark.parametrize("value", ["", "1234567890", "123456789012", "1234567890a", "\u0661" * 11])
def test_bad_shapes_are_rejected(value: str) -> None:
    with pytest.raises(InvalidInput):
        validate_nrn(value)


def test_non_ascii_digits_are_rejected_even_with_a_valid_check() -> None:
    nrn = generate_nrn(random.Random(5))
    arabic = "".join(chr(0x660 + int(c)) for c in nrn)
    with pytest.raises(InvalidInput):
        validate_nrn(arabic)


def test_pseudonym_is_keyed_and_stable() -> None:
    nrn = generate_nrn(random.Random(7))
    assert pseudonym(nrn, b"k1") == pseudonym(nrn, b"k1")
    assert pseudonym(nrn, b"k1") != pseudonym(nrn, b"k2")
    assert len(pseudonym(nrn, b"k1")) == 64
    assert nrn not in pseudonym(nrn, b"k1")


def test_pseudonym_is_hmac_sha256_as_rfc_4231_defines_it() -> None:
    """Records are stored under the pseudonym: if its function ever changed, every
    existing entitlement would become unreachable. RFC 4231, test case 2."""
    assert (
        pseudonym("what do ya want for nothing?", b"Jefe")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
