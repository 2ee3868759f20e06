"""Base units to human units, for display only (the math stays in integers)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


def to_units(amount: int, decimals: int) -> Fraction:
    """`amount` base units of a token with `decimals`, as an exact number of whole tokens."""
    return Fraction(amount, 10**decimals)


def fmt(value: Fraction | int | None, places: int = 4) -> str:
    """A number with thousands separators and at most `places` decimals; '-' for None.

    Small non-zero values keep four significant digits instead of printing as 0.
    """
    if value is None:
        return "-"
    number = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else Decimal(value)
    )
    if number != 0 and abs(number) < Decimal(10) ** -places:
        return f"{number:.4g}"
    return f"{number:,.{places}f}"


def decimal_text(value: Fraction | None) -> str | None:
    """An exact-enough decimal string for JSON (18 places, no separators); None stays None."""
    return None if value is None else fmt(value, 18).replace(",", "")
