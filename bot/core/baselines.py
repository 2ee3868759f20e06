"""The two books a policy is measured against: holding the start tokens (LP taken as the tokens
behind it at the start), and the start LP and tokens never rebalanced. Pure, exact.

The backtest and the keeper's journaled heads start them the same way, from one snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from bot.core.amm import lp_share_amounts
from bot.core.snapshot import Snapshot
from bot.core.tax_ledger import view_quotes
from bot.core.units import LP_DECIMALS
from bot.core.valuation import BookView


def held_underlying(snapshot: Snapshot) -> dict[str, int]:
    """The holder's tokens with each LP position taken as the tokens behind it, by address."""
    held = {a: snapshot.balances.get(a, 0) for a in snapshot.tokens}
    for pair in snapshot.pairs:
        a0, a1 = lp_share_amounts(pair.holder_lp, pair.reserve0, pair.reserve1, pair.total_supply)
        held[pair.token0.address] = held.get(pair.token0.address, 0) + a0
        held[pair.token1.address] = held.get(pair.token1.address, 0) + a1
    return held


@dataclass(frozen=True, slots=True)
class Baselines:
    """What the book held at its start: for holding (`hold`, tokens only) and for the LP never
    rebalanced (`tokens` and `lp`), by address, in base units; and the block it was read at."""

    block: int
    hold: Mapping[str, int]
    tokens: Mapping[str, int]
    lp: Mapping[str, int]

    @classmethod
    def of(cls, view: BookView) -> Baselines:
        """From what the book's sleeves hold at `view` (holdings no sleeve covers are not the book's)."""
        hold: dict[str, int] = {}
        tokens: dict[str, int] = {}
        lp: dict[str, int] = {}
        for s in view.sleeves:
            for address, amount in s.amounts.items():
                hold[address] = hold.get(address, 0) + amount
            if s.pair is not None:
                lp[s.pair.address] = lp.get(s.pair.address, 0) + s.lp
            else:
                tokens.update(s.amounts)
        return cls(view.now.block, hold, tokens, lp)

    def values(self, view: BookView) -> tuple[Fraction, Fraction]:
        """(holding, LP never rebalanced) valued at the view's spot prices."""
        quotes = view_quotes(view)
        decimals = {t.address: t.decimals for t in view.tokens.values()}

        def worth(amounts: Mapping[str, int], places: Mapping[str, int], default: int = 18) -> Fraction:
            total = Fraction(0)
            for a, n in amounts.items():
                if n and a in quotes:
                    total += quotes[a].price * n / 10 ** places.get(a, default)
            return total

        lp = worth(self.tokens, decimals) + worth(self.lp, {}, LP_DECIMALS)
        return worth(self.hold, decimals), lp

    def as_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "hold": {a: str(n) for a, n in self.hold.items()},
            "tokens": {a: str(n) for a, n in self.tokens.items()},
            "lp": {a: str(n) for a, n in self.lp.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Baselines:
        def ints(d: Mapping[str, str]) -> dict[str, int]:
            return {a: int(n) for a, n in d.items()}

        return cls(int(data["block"]), ints(data["hold"]), ints(data["tokens"]), ints(data["lp"]))
