"""Display of exact amounts: `fmt` and `decimal_text` are exact at any magnitude.

A Decimal division rounds to the default context's 28 significant digits, so a 40-digit value
printed through one lost its last wei; these tests pin the exact text.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given
from hypothesis import strategies as st

from bot.core.units import decimal_text, fmt, to_units


def test_a_40_digit_amount_prints_to_the_last_wei() -> None:
    value = to_units(10**39 + 1, 18)  # 10^21 tokens and one wei
    assert fmt(value, 18) == "1,000,000,000,000,000,000,000.000000000000000001"
    assert decimal_text(value) == "1000000000000000000000.000000000000000001"


def test_the_rounding_sees_the_whole_value() -> None:
    # a tail forty digits down decides how a 31-digit number rounds
    assert fmt(10**30 + Fraction(1, 2) + Fraction(1, 10**40), 0) == f"{10**30 + 1:,}"
    assert fmt(10**30 + Fraction(1, 2) - Fraction(1, 10**40), 0) == f"{10**30:,}"
    # a tie goes to the even neighbour, as Decimal formatting does
    assert fmt(10**30 + Fraction(1, 2), 0) == f"{10**30:,}"
    assert fmt(10**30 + Fraction(3, 2), 0) == f"{10**30 + 2:,}"


def test_ints_and_decimals_of_any_size_are_exact() -> None:
    assert fmt(10**39 + 1, 0) == f"{10**39 + 1:,}"
    assert fmt(-(10**39) - 1, 2) == f"{-(10**39) - 1:,}.00"
    assert fmt(Decimal(f"{10**39}.25"), 1) == f"{10**39:,}.2"


def test_small_values_keep_four_significant_digits() -> None:
    assert fmt(Fraction(1, 3 * 10**30)) == "3.333e-31"
    assert fmt(Fraction(5, 1000), 2) == "0.005"  # exact values print without padding zeros
    # just under a tie at the fourth digit: a 28-digit quotient made it a tie and rounded it up
    assert fmt(Fraction(10015, 10**11) - Fraction(1, 10**50), 4) == "1.001e-7"
    assert fmt(None) == "-"


@given(
    numerator=st.integers(-(10**60), 10**60),
    denominator=st.integers(1, 10**60),
    places=st.integers(0, 24),
)
@example(numerator=10**39 + 1, denominator=10**18, places=18)
def test_fmt_is_the_value_rounded_once(numerator: int, denominator: int, places: int) -> None:
    value = Fraction(numerator, denominator)
    text = fmt(value, places).replace(",", "")
    printed = Fraction(text)
    if value == 0 or abs(value) >= Fraction(1, 10**places):
        assert printed == Fraction(round(value * 10**places), 10**places)
        assert len(text.partition(".")[2]) == places
    else:
        # below one unit of the last place: four significant digits, off by half a unit of the fourth
        assert abs(printed - value) <= abs(value) / 2000
