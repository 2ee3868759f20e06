"""The arbitrageur of a backtest: the trade that brings a V2 pair to an outside price. Pure.

A swap of x into a pair with reserves (r_in, r_out) and fee f pays out at the marginal rate
g·r_in·r_out / (r_in + g·x)², g = 1 - f/10000. An arbitrageur who can trade the other way outside
at price p (r_out units per r_in unit) trades until that rate falls to p:

    x = (sqrt(g·r_in·r_out / p) - r_in) / g

and not at all while the pair's rate after its fee is at most p (the gap is inside the fee). The
input is solved in integers (isqrt, floors) and the swap itself is `PairState.after_swap`: the
exact math of the pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.core.amm import PairState

BPS = 10_000


@dataclass(frozen=True, slots=True)
class ArbTrade:
    """One arbitrage swap: `amount_in` of token0 (zero_for_one) or token1 into the pair, and its output."""

    zero_for_one: bool
    amount_in: int
    amount_out: int
    state: PairState  # the pair after


def arbitrage_input(state: PairState, price_num: int, price_den: int) -> tuple[int, bool] | None:
    """The input that trades `state` to the outside price price_num/price_den (token1 per token0, in
    base units), and its direction; None when the gap is inside the fee.

    Raises:
        ValueError: a price that is not positive.
    """
    if price_num <= 0 or price_den <= 0:
        raise ValueError(f"outside price {price_num}/{price_den} is not positive")
    gamma = BPS - state.fee_bps
    r0, r1 = state.reserve0, state.reserve1
    # the pair pays more token1 per token0 (after its fee) than outside: sell it token0
    if gamma * r1 * price_den > BPS * r0 * price_num:
        root = math.isqrt(gamma * r0 * r1 * price_den // (BPS * price_num))
        amount = (root - r0) * BPS // gamma
        return (amount, True) if amount > 0 else None
    # the pair pays more token0 per token1 than outside: sell it token1
    if gamma * r0 * price_num > BPS * r1 * price_den:
        root = math.isqrt(gamma * r0 * r1 * price_num // (BPS * price_den))
        amount = (root - r1) * BPS // gamma
        return (amount, False) if amount > 0 else None
    return None


def arbitrage(state: PairState, price_num: int, price_den: int) -> ArbTrade | None:
    """The arbitrage swap on `state` toward price_num/price_den, or None when there is none worth a unit."""
    found = arbitrage_input(state, price_num, price_den)
    if found is None:
        return None
    amount_in, zero_for_one = found
    if state.amount_out(amount_in, zero_for_one) <= 0:
        return None
    out, after = state.after_swap(amount_in, zero_for_one)
    return ArbTrade(zero_for_one, amount_in, out, after)
