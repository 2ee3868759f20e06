"""What a strategy is and what it returns. Pure.

A strategy looks at a BookView and returns `Targets` (the weights to rebalance to, by sleeve
label, summing to 1) or `Hold` with the reason it does nothing. Both carry a reason that the
logs, the journal and `ammkeeper plan` show. The strategies themselves live in `strategies/`,
above the core; the core's decision takes any object of this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from bot.core.valuation import BookView


@dataclass(frozen=True, slots=True)
class Targets:
    """Rebalance to these weights (by sleeve label; they sum to 1)."""

    weights: Mapping[str, Fraction]
    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Do nothing, because of `reason`."""

    reason: str


Decision = Targets | Hold


class Strategy(Protocol):
    """BookView -> Targets | Hold, with no IO and no clock but the view's own block."""

    def decide(self, view: BookView) -> Decision: ...


def book_only(strategy: Strategy) -> bool:
    """Whether `strategy` decides on nothing but the book's amounts and its pools' reserves (no
    clock, no TWAP, no history, no gas): on a block where none of those changed its answer is the
    one it gave before. Strategies say so with a `book_only` attribute (default: they do not)."""
    return bool(getattr(strategy, "book_only", False))
