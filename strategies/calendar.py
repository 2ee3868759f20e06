"""Calendar: rebalance once per period, whatever the drift. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.book import Schedule
from bot.core.valuation import BookView
from strategies.base import Decision, Hold, Targets, full_targets, largest_drift


@dataclass(frozen=True, slots=True)
class CalendarStrategy:
    """Due when no rebalance happened yet in the current period (periods aligned to block 0 / the epoch)."""

    every: Schedule

    def decide(self, view: BookView) -> Decision:
        if not self.every.due(view.now, view.history.last_rebalance):
            return Hold(
                f"calendar ({self.every}): rebalanced this period; next at {self.every.next_start(view.now)}"
            )
        return Targets(full_targets(view), f"calendar ({self.every}): due; {largest_drift(view)}")
