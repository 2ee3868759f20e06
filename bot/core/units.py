"""Base units to human units, for display only (the math stays in integers)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

LOG10_2 = math.log10(2)
SIGNIFICANT_DIGITS = 4  # what a small non-zero value keeps instead of printing as 0


LP_DECIMALS = 18  # every V2 pair's LP token


def to_units(amount: int, decimals: int) -> Fraction:
    """`amount` base units of a token with `decimals`, as an exact number of whole tokens."""
    return Fraction(amount, 10**decimals)


def _rounded(value: Fraction, places: int) -> Decimal:
    """`value` rounded half to even at `places` decimals, as an exact Decimal.

    One rounding of the exact value: a Decimal division would first round to the context's
    28 significant digits (and rounding twice can also move a digit).
    """
    scaled = round(value * 10**places)  # Fraction rounds half to even, as Decimal formatting does
    # NOTE: the string constructor is exact; Decimal.scaleb would round to the context precision
    return Decimal(f"{scaled}E{-places}")


def _exponent(value: Fraction) -> int:
    """floor(log10(|value|)) of a non-zero value, exactly."""
    value = abs(value)
    # from the bit lengths (within one of the answer), not from decimal strings: a weight in a
    # large book is a ratio of integers thousands of digits long, and str() refuses those
    bits = value.numerator.bit_length() - value.denominator.bit_length()
    exponent = math.floor(bits * LOG10_2)
    while value >= Fraction(10) ** (exponent + 1):
        exponent += 1
    while value < Fraction(10) ** exponent:
        exponent -= 1
    return exponent


def fmt(value: Fraction | int | Decimal | None, places: int = 4) -> str:
    """A number with thousands separators and at most `places` decimals; '-' for None.

    Exact at any magnitude: the value is rounded once, half to even, at `places` decimals.
    Small non-zero values keep four significant digits instead of printing as 0.
    """
    if value is None:
        return "-"
    number = Fraction(value)
    if number != 0 and abs(number) < Fraction(1, 10**places):
        exponent = _exponent(number)
        digits = _rounded(number, SIGNIFICANT_DIGITS - 1 - exponent)
        if Fraction(digits) == number:
            digits = digits.normalize()  # an exact value prints without padding zeros (0.005, not 0.005000)
        return f"{digits:.{SIGNIFICANT_DIGITS}g}"  # at most four digits: formatting only lays them out
    return f"{_rounded(number, places):,.{places}f}"


def decimal_text(value: Fraction | None) -> str | None:
    """An exact-enough decimal string for JSON (18 places, no separators); None stays None."""
    return None if value is None else fmt(value, 18).replace(",", "")


def amount_text(amount: int, decimals: int) -> str:
    """A token amount in its units, exactly and no longer than it needs (12.5, not 12.50000000)."""
    text = f"{Decimal(amount).scaleb(-decimals):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
