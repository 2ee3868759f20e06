"""Spot prices of every token of a snapshot in a numeraire, through the book's own pairs.

Pure. Each price carries its provenance: the route of pairs it came through and the
block. Where two routes of the same length exist, the deeper pool wins (the one whose
priced side is worth more), because a shallow pool's price is the easiest to move.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bot.core.snapshot import Snapshot
from bot.core.units import to_units


@dataclass(frozen=True, slots=True)
class Price:
    """Numeraire per one whole token, and where it came from."""

    token: str
    value: Fraction
    route: tuple[str, ...]
    block: int
    kind: str = "spot"


def spot_prices(snapshot: Snapshot, numeraire: str) -> dict[str, Price]:
    """Prices of every token reachable from `numeraire` (an address) through the snapshot's pairs."""
    prices = {numeraire: Price(numeraire, Fraction(1), (), snapshot.block_number)}
    while True:
        best: dict[str, tuple[Fraction, Price]] = {}  # token -> (depth in numeraire, price)
        for pair in snapshot.pairs:
            sides = (
                (pair.token0, pair.reserve0, pair.token1, pair.reserve1),
                (pair.token1, pair.reserve1, pair.token0, pair.reserve0),
            )
            for known, known_reserve, other, other_reserve in sides:
                if known.address not in prices or other.address in prices:
                    continue
                known_price = prices[known.address]
                depth = to_units(known_reserve, known.decimals) * known_price.value
                value = depth / to_units(other_reserve, other.decimals)
                candidate = Price(
                    other.address, value, (pair.address, *known_price.route), snapshot.block_number
                )
                if other.address not in best or depth > best[other.address][0]:
                    best[other.address] = (depth, candidate)
        if not best:
            return prices
        prices.update({token: price for token, (_, price) in best.items()})
