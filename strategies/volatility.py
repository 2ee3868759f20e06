"""Volatility-widened bands: a threshold whose bands grow with realized volatility. Pure.

In a volatile market, narrow bands trade on noise (whipsaw). Each sleeve's band is
multiplied by clamp(vol / reference_vol, 1, max_widen), where vol is the largest realized
volatility per day of the sleeve's tokens in the numeraire (from the keeper's past snapshots).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bot.core.units import fmt
from bot.core.valuation import BookView, SleeveView
from strategies.base import Decision, Hold, Targets, breaches, full_targets, largest_drift


@dataclass(frozen=True, slots=True)
class VolatilityStrategy:
    reference_vol: Fraction
    max_widen: Fraction

    def widen(self, view: BookView, sleeve: SleeveView) -> Fraction:
        """The factor (>= 1, <= max_widen) this sleeve's band is multiplied by."""
        vol = max((view.volatility.get(address, 0.0) for address in sleeve.amounts), default=0.0)
        return min(self.max_widen, max(Fraction(1), Fraction(vol) / self.reference_vol))

    def decide(self, view: BookView) -> Decision:
        found = breaches(view, lambda s: self.widen(view, s))
        widest = max(self.widen(view, s) for s in view.sleeves)
        note = f"bands x{fmt(widest, 2)} at most"
        if not found:
            return Hold(f"inside volatility-widened bands ({note}); {largest_drift(view)}")
        return Targets(full_targets(view), f"outside volatility-widened band ({note}): " + "; ".join(found))
