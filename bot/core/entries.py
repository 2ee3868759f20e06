"""LP sleeves' entry amounts after the bundles the journal recorded. Pure.

The book file says what an LP sleeve was entered with (`entry`, and `entry_lp`: the LP those
amounts minted). A bundle that mints into the pair adds what it deposited and the LP it got; a
bundle that burns takes out its pro-rata share of the entry (the average-cost rule). IL, fee income
and PnL against holding then stay about the LP held now, not about a position the keeper has
since burned or added to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """What an LP position was entered with: token0 and token1 in base units, and its LP."""

    amount0: int
    amount1: int
    lp: int


@dataclass(frozen=True, slots=True)
class LpMove:
    """One executed op's effect on a pair's LP held: minted (lp > 0, with the amounts deposited) or
    burned (lp < 0)."""

    pair: str
    lp: int
    amount0: int = 0
    amount1: int = 0


def lp_moves(ops: Sequence[Mapping[str, Any]], pairs: Mapping[str, tuple[str, str]]) -> list[LpMove]:
    """The LP moves of one executed bundle, from its journaled realized ops.

    Args:
        ops: the outcome's `ops`, each with `realized.spent` / `realized.received` amounts by address.
        pairs: (token0, token1) by pair address, for the pairs of the book.
    """
    moves = []
    for op in ops:
        realized = op.get("realized")
        if not isinstance(realized, Mapping):
            continue
        spent = {a: int(v) for a, v in realized.get("spent", {}).items()}
        received = {a: int(v) for a, v in realized.get("received", {}).items()}
        for pair, (token0, token1) in pairs.items():
            if received.get(pair):
                moves.append(LpMove(pair, received[pair], spent.get(token0, 0), spent.get(token1, 0)))
            if spent.get(pair):
                moves.append(LpMove(pair, -spent[pair]))
    return moves


def opening_lp(lp_now: int, moves: Sequence[LpMove]) -> int:
    """The LP held before the journaled moves (when the book file does not say `entry_lp`)."""
    return lp_now - sum(m.lp for m in moves)


def follow(entry: Entry, moves: Sequence[LpMove]) -> Entry:
    """`entry` after `moves` (of its pair), in order."""
    for move in moves:
        if move.lp > 0:
            entry = Entry(entry.amount0 + move.amount0, entry.amount1 + move.amount1, entry.lp + move.lp)
        elif move.lp < 0 and entry.lp > 0:
            keep = max(0, entry.lp + move.lp)
            entry = Entry(entry.amount0 * keep // entry.lp, entry.amount1 * keep // entry.lp, keep)
    return entry
