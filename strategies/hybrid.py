"""Hybrid: look once per period (calendar), act only when a band is breached then (threshold). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.book import Schedule
from bot.core.valuation import BookView
from strategies.base import Decision, Hold, Targets, breaches, full_targets, largest_drift


@dataclass(frozen=True, slots=True)
class HybridStrategy:
    """The most common institutional rule: a calendar evaluation with a threshold to act."""

    every: Schedule

    def decide(self, view: BookView) -> Decision:
        if not self.every.due(view.now, view.history.last_evaluation):
            return Hold(
                f"hybrid ({self.every}): evaluated this period; next at {self.every.next_start(view.now)}"
            )
        found = breaches(view)
        if not found:
            return Hold(f"hybrid ({self.every}): evaluated, inside bands; {largest_drift(view)}")
        return Targets(full_targets(view), f"hybrid ({self.every}): outside band: " + "; ".join(found))
