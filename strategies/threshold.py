"""Threshold: rebalance to the targets when a sleeve or a bucket leaves its band. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.core.valuation import BookView
from strategies.base import Decision, Hold, Targets, breaches, full_targets, largest_drift


@dataclass(frozen=True, slots=True)
class ThresholdStrategy:
    """Bands absolute (weight points) or relative to the target, as each sleeve and bucket sets them."""

    book_only: ClassVar[bool] = True  # weights against bands: amounts and reserves alone

    def decide(self, view: BookView) -> Decision:
        found = breaches(view)
        if not found:
            return Hold(f"inside bands; {largest_drift(view)}")
        return Targets(full_targets(view), "outside band: " + "; ".join(found))
