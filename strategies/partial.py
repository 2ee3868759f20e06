"""Partial rebalancing: move only a fraction of the way to the targets another strategy sets. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bot.core.strategy import book_only
from bot.core.units import fmt
from bot.core.valuation import BookView
from strategies.base import Decision, Hold, Strategy, Targets


@dataclass(frozen=True, slots=True)
class PartialStrategy:
    """Cheaper than a full rebalance, at the price of staying off target longer."""

    fraction: Fraction
    then: Strategy

    @property
    def book_only(self) -> bool:
        """As its inner strategy: the fraction itself reads only its targets."""
        return book_only(self.then)

    def decide(self, view: BookView) -> Decision:
        decision = self.then.decide(view)
        if isinstance(decision, Hold):
            return decision
        weights = {
            s.label: s.weight + self.fraction * (decision.weights[s.label] - s.weight) for s in view.sleeves
        }
        return Targets(weights, f"{fmt(self.fraction * 100, 0)}% of the way: {decision.reason}")
