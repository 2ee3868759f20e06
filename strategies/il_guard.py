"""IL guard: reduce or leave a pair whose impermanent loss or price move since entry passes a limit. Pure.

The guard lowers the tripped sleeve's target to `keep` times its target and gives the freed
weight to a token sleeve (the numeraire's by default), then lets the inner strategy decide
on those targets: the first time it trips, the sleeve is far outside its (new) band and is
reduced; later heads hold it there for as long as the price stays past the limit. IL is the
closed form 2*sqrt(k)/(1+k) - 1 at the pair's price ratio k since entry, so it is known
whether or not LP is still held.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bot.core.amm import impermanent_loss
from bot.core.book import fraction
from bot.core.strategy import book_only
from bot.core.units import fmt
from bot.core.valuation import BookView, SleeveView
from strategies.base import Decision, Hold, Strategy, Targets, with_targets, without_bucket


@dataclass(frozen=True, slots=True)
class IlGuardStrategy:
    max_il: Fraction | None
    max_price_move: Fraction | None
    keep: Fraction
    to: str
    then: Strategy

    def trip(self, view: BookView, sleeve: SleeveView) -> str | None:
        """Why this sleeve trips the guard, or None."""
        entry, pair = sleeve.sleeve.entry, sleeve.pair
        if entry is None or pair is None:
            return None
        # entry amounts are by the book's symbols; the chain may call a token something else
        symbol = {info.address: name for name, info in view.tokens.items()}
        e0 = fraction(entry[symbol[pair.token0.address]]) * 10**pair.token0.decimals
        e1 = fraction(entry[symbol[pair.token1.address]]) * 10**pair.token1.decimals
        if e0 <= 0 or e1 <= 0:
            return None
        ratio = Fraction(pair.reserve1, pair.reserve0) / (e1 / e0)
        loss = Fraction(-impermanent_loss(float(ratio)))
        if self.max_il is not None and loss > self.max_il:
            return f"{sleeve.label} IL {fmt(loss * 100, 2)}% > {fmt(self.max_il * 100, 2)}%"
        # the same move whichever token the pair lists first: a doubling and a halving are both +100%
        move = max(ratio, 1 / ratio) - 1
        if self.max_price_move is not None and move > self.max_price_move:
            limit = fmt(self.max_price_move * 100, 2)
            return f"{sleeve.label} price moved {fmt(move * 100, 2)}% since entry > {limit}%"
        return None

    @property
    def book_only(self) -> bool:
        """As its inner strategy: the guard itself reads only reserves and entries."""
        return book_only(self.then)

    def decide(self, view: BookView) -> Decision:
        tripped = [(s, why) for s in view.sleeves if (why := self.trip(view, s)) is not None]
        if not tripped:
            return self.then.decide(view)
        # a tripped sleeve leaves its bucket: the bucket's mix would otherwise give it weight back
        view = without_bucket(view, {s.label for s, _ in tripped})
        targets = {s.label: s.target for s in view.sleeves}
        receiver = next(s.label for s in view.sleeves if s.sleeve.token == self.to)
        for sleeve, _ in tripped:
            kept = view.sleeve(sleeve.label).target * self.keep
            targets[receiver] += sleeve.target - kept
            targets[sleeve.label] = kept
        reasons = "; ".join(why for _, why in tripped)
        decision = self.then.decide(with_targets(view, targets))
        if isinstance(decision, Hold):
            return Hold(
                f"IL guard holds {reasons} at {fmt(self.keep * 100, 0)}% of target; {decision.reason}"
            )
        return Targets(
            decision.weights, f"IL guard: {reasons}: keep {fmt(self.keep * 100, 0)}%; {decision.reason}"
        )
