"""The backtest's arbitrageur: it trades a pair to the outside price and no further, only when the
gap beats the fee, with the pair's exact math."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.core.amm import PairState
from bot.core.arbitrage import arbitrage, arbitrage_input

reserves = st.integers(min_value=10**6, max_value=10**30)
fees = st.sampled_from([0, 20, 25, 30, 100])
moves = st.fractions(min_value=Fraction(1, 100), max_value=100)


@given(reserves, reserves, fees, moves)
@example(10**21, 3 * 10**9 * 10**3, 30, Fraction(101, 100))
@example(10**18, 10**18, 30, Fraction(1))
def test_it_trades_to_the_outside_price_and_no_further(r0: int, r1: int, fee: int, move: Fraction) -> None:
    state = PairState(r0, r1, 10**20, fee_bps=fee)
    target = Fraction(r1, r0) * move  # token1 per token0 outside
    trade = arbitrage(state, target.numerator, target.denominator)
    gamma = Fraction(10_000 - fee, 10_000)
    inside = Fraction(r1, r0) * gamma <= target <= Fraction(r1, r0) / gamma
    if trade is None:
        # no trade: the gap was inside the fee, or the trade would be worth less than a unit
        again = arbitrage_input(state, target.numerator, target.denominator)
        assert inside or again is None or state.amount_out(again[0], again[1]) == 0
        return
    assert not inside
    after = trade.state
    assert after.reserve0 * after.reserve1 >= r0 * r1  # k never falls
    # the most profitable trade at the outside price: a little more or less gains no more
    # (beyond the floors of the pair's integer math)

    def profit(amount_in: int) -> Fraction:
        out = state.amount_out(amount_in, trade.zero_for_one)
        return out - amount_in * target if trade.zero_for_one else out - amount_in / target

    step = max(1, trade.amount_in // 1_000)
    unit = 1 if trade.zero_for_one else 1 / target  # one base unit of what it pays, in what it gets
    best = profit(trade.amount_in)
    assert best >= 0
    assert best + 2 + 2 * unit >= profit(trade.amount_in + step)
    if trade.amount_in > step:
        assert best + 2 + 2 * unit >= profit(trade.amount_in - step)
    # and the pair's price moved toward the outside price, not past it
    before, now = Fraction(r1, r0), Fraction(after.reserve1, after.reserve0)
    if trade.zero_for_one:
        assert target * Fraction(999_999, 10**6) <= now < before
    else:
        assert before < now <= target * Fraction(10**6 + 1, 10**6)


def test_the_pair_ends_near_the_outside_price() -> None:
    state = PairState(1_000 * 10**18, 3_000_000 * 10**6, 10**20, fee_bps=30)
    target = Fraction(2_700 * 10**6, 10**18)  # WETH fell 10% outside
    trade = arbitrage(state, target.numerator, target.denominator)
    assert trade is not None and trade.zero_for_one
    after = trade.state
    # the next unit in pays (1 - fee) * r1/r0: the outside price, but for the fee the trade itself
    # left in the reserves (the single most profitable trade, about fee * amount_in / r0 short)
    marginal = Fraction(after.reserve1, after.reserve0) * Fraction(9_970, 10_000)
    assert marginal < target
    assert abs(marginal / target - 1) < Fraction(30, 10_000) * trade.amount_in / after.reserve0 * 2


def test_a_gap_inside_the_fee_is_left_alone() -> None:
    state = PairState(1_000 * 10**18, 3_000_000 * 10**6, 10**20, fee_bps=30)
    spot = Fraction(3_000 * 10**6, 10**18)
    for move in (Fraction(1), Fraction(1002, 1000), Fraction(998, 1000)):
        price = spot * move
        assert arbitrage(state, price.numerator, price.denominator) is None


def test_a_price_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="not positive"):
        arbitrage_input(PairState(10, 10, 10), 0, 1)
