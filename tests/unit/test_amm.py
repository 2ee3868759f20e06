"""Properties of the pure V2 math (no chain). The chain tests prove it equals the pair."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.core import amm
from bot.core.amm import Hop, PairState

reserves = st.integers(min_value=10**6, max_value=10**30)
amounts = st.integers(min_value=1, max_value=10**28)
fees = st.sampled_from([0, 25, 30, 100])


@st.composite
def pair_states(draw: st.DrawFn, fee_on: bool | None = None) -> PairState:
    r0, r1 = draw(reserves), draw(reserves)
    supply = math.isqrt(r0 * r1)
    # a supply that is not exactly sqrt(k): the pool has earned fees since it started
    supply = max(amm.MINIMUM_LIQUIDITY + 1, supply * draw(st.integers(50, 100)) // 100)
    on = draw(st.booleans()) if fee_on is None else fee_on
    k_last = r0 * r1 * draw(st.integers(80, 100)) // 100 if on else 0
    return PairState(r0, r1, supply, k_last=k_last, fee_bps=draw(fees), fee_on=on)


def test_get_amount_out_matches_hand_computed_uniswap_example() -> None:
    # 1 ETH into 100 ETH / 300,000 USDC at 30 bps, in UniswapV2Library's own 997/1000 form
    out = amm.get_amount_out(10**18, 100 * 10**18, 300_000 * 10**6, 30)
    assert out == (997 * 10**18 * 300_000 * 10**6) // (100 * 10**18 * 1000 + 997 * 10**18)
    # about 2,961 USDC: 2.96% under the 3,000 spot, 0.3% fee plus 1% impact
    assert 2_961 * 10**6 < out < 2_962 * 10**6


@given(a=amounts, r_in=reserves, r_out=reserves, fee=fees)
def test_amount_out_is_the_largest_output_passing_the_k_check(
    a: int, r_in: int, r_out: int, fee: int
) -> None:
    out = amm.get_amount_out(a, r_in, r_out, fee)
    assume(out > 0)
    assert amm.swap_satisfies_k(r_in + a, r_out - out, a, 0, r_in, r_out, fee)
    assert not amm.swap_satisfies_k(r_in + a, r_out - out - 1, a, 0, r_in, r_out, fee)


@given(state=pair_states(), a=amounts, zero_for_one=st.booleans())
def test_k_never_decreases_on_a_swap(state: PairState, a: int, zero_for_one: bool) -> None:
    try:
        _, after = state.after_swap(a, zero_for_one)
    except (amm.InsufficientOutputAmount, amm.ReserveOverflow):
        return
    assert after.reserve0 * after.reserve1 >= state.reserve0 * state.reserve1
    assert after.total_supply == state.total_supply


@given(out=amounts, r_in=reserves, r_out=reserves, fee=fees)
def test_amount_in_buys_at_least_the_amount_out(out: int, r_in: int, r_out: int, fee: int) -> None:
    assume(out < r_out)
    needed = amm.get_amount_in(out, r_in, r_out, fee)
    assert amm.get_amount_out(needed, r_in, r_out, fee) >= out
    # and it is at most one wei more than the least input that works
    assert needed <= 2 or amm.get_amount_out(needed - 2, r_in, r_out, fee) < out


@given(a=amounts, r_a=reserves, r_b=reserves)
def test_zero_fee_round_trip_loses_only_rounding(a: int, r_a: int, r_b: int) -> None:
    state = PairState(r_a, r_b, math.isqrt(r_a * r_b), fee_bps=0)
    try:
        out_b, mid = state.after_swap(a, zero_for_one=True)
        back, _ = mid.after_swap(out_b, zero_for_one=False)
    except amm.MathError:
        return
    # one wei of B (valued in A at the moved price) plus one wei of A
    assert 0 <= a - back <= -(-(r_a + a) // r_b) + 1


@given(a=amounts, r_a=reserves, r_b=reserves, fee=st.sampled_from([25, 30, 100]))
def test_round_trip_loss_is_exactly_what_the_pool_keeps(a: int, r_a: int, r_b: int, fee: int) -> None:
    state = PairState(r_a, r_b, math.isqrt(r_a * r_b), fee_bps=fee)
    free = PairState(r_a, r_b, math.isqrt(r_a * r_b), fee_bps=0)
    try:
        out_b, mid = state.after_swap(a, zero_for_one=True)
        back, end = mid.after_swap(out_b, zero_for_one=False)
        free_out, free_mid = free.after_swap(a, zero_for_one=True)
        free_back, _ = free_mid.after_swap(free_out, zero_for_one=False)
    except amm.MathError:
        return
    # the trader's loss in A is exactly the pool's gain in A; B comes back to where it was
    assert a - back == end.reserve0 - state.reserve0
    assert end.reserve1 == state.reserve1
    # and the fee only ever costs more than rounding
    assert back <= free_back


@given(a=amounts, hops=st.lists(st.tuples(reserves, reserves, fees), min_size=1, max_size=4))
def test_multi_hop_chains_single_hops(a: int, hops: list[tuple[int, int, int]]) -> None:
    path = [Hop(r_in, r_out, fee) for r_in, r_out, fee in hops]
    try:
        amounts_out = amm.get_amounts_out(a, path)
    except amm.MathError:
        return
    expected = a
    for hop in path:
        expected = amm.get_amount_out(expected, hop.reserve_in, hop.reserve_out, hop.fee_bps)
    assert amounts_out[-1] == expected
    assert len(amounts_out) == len(path) + 1


@given(a0=st.integers(10**4, 10**30), a1=st.integers(10**4, 10**30))
def test_first_mint_locks_minimum_liquidity(a0: int, a1: int) -> None:
    empty = PairState(0, 0, 0)
    assume(math.isqrt(a0 * a1) > amm.MINIMUM_LIQUIDITY)
    minted = empty.after_mint(a0, a1)
    assert minted.liquidity == math.isqrt(a0 * a1) - amm.MINIMUM_LIQUIDITY
    assert minted.state.total_supply == minted.liquidity + amm.MINIMUM_LIQUIDITY


def test_first_mint_below_minimum_liquidity_is_refused() -> None:
    with pytest.raises(amm.InsufficientLiquidityMinted):
        PairState(0, 0, 0).after_mint(1000, 1000)


@given(state=pair_states(fee_on=False), share=st.integers(1, 10**6))
def test_mint_then_burn_returns_the_deposit_less_rounding(state: PairState, share: int) -> None:
    a0 = state.reserve0 * share // 10**6
    assume(a0 > 0)
    a1 = amm.quote(a0, state.reserve0, state.reserve1)
    assume(a1 > 0)
    try:
        minted = state.after_mint(a0, a1)
        burned = minted.state.after_burn(minted.liquidity)
    except amm.MathError:
        return
    # what the mint floors away: one LP wei (worth reserve/supply tokens) and, since a1 was
    # floored by quote, up to one wei of token1 worth reserve0/reserve1 of token0; plus one wei
    lp_wei0 = -(-minted.state.reserve0 // minted.state.total_supply)
    lp_wei1 = -(-minted.state.reserve1 // minted.state.total_supply)
    assert 0 <= a0 - burned.amount0 <= lp_wei0 + -(-state.reserve0 // state.reserve1) + 2
    assert 0 <= a1 - burned.amount1 <= lp_wei1 + 2


@given(state=pair_states(fee_on=True), liquidity=st.integers(1, 10**24))
def test_burn_with_fee_on_mints_the_protocol_fee_first(state: PairState, liquidity: int) -> None:
    assume(liquidity < state.total_supply)
    try:
        burned = state.after_burn(liquidity)
    except amm.MathError:
        return
    root_k, root_k_last = math.isqrt(state.reserve0 * state.reserve1), math.isqrt(state.k_last)
    expected_fee = (
        state.total_supply * (root_k - root_k_last) // (5 * root_k + root_k_last)
        if root_k > root_k_last
        else 0
    )
    assert burned.fee_liquidity == expected_fee
    supply = state.total_supply + expected_fee
    assert burned.amount0 == liquidity * state.reserve0 // supply
    assert burned.state.total_supply == supply - liquidity
    assert burned.state.k_last == burned.state.reserve0 * burned.state.reserve1


def test_fee_off_clears_k_last() -> None:
    state = PairState(10**20, 10**20, 10**20, k_last=10**39, fee_on=False)
    assert state.after_mint(10**18, 10**18).state.k_last == 0


@given(a=st.integers(1, 10**28), r_in=reserves, r_out=reserves, fee=fees)
def test_balanced_swap_with_nothing_else_is_the_single_sided_zap(
    a: int, r_in: int, r_out: int, fee: int
) -> None:
    assert amm.balanced_swap_amount(a, 0, r_in, r_out, fee) == amm.zap_swap_amount(a, r_in, fee)


def test_zap_matches_the_known_30bps_closed_form() -> None:
    # the widely used 0.3% form: (sqrt(r (3988009 r + 3988000 a)) - 1997 r) / 1994
    r, a = 123_456_789 * 10**18, 98_765 * 10**18
    assert amm.zap_swap_amount(a, r, 30) == (math.isqrt(r * (3988009 * r + 3988000 * a)) - 1997 * r) // 1994


def _zap_dust(a0: int, a1: int, state: PairState) -> tuple[Fraction, Fraction, Fraction]:
    """(dust, deposit, one wei of each token) in token1 at the post-zap price."""
    plan = amm.plan_zap(a0, a1, state)
    s = plan.state
    dust = amm.value_in_token1(plan.leftover0, plan.leftover1, s.reserve0, s.reserve1)
    # the zap conserves tokens: every wei is minted, swapped or left over
    assert plan.mint0 + plan.leftover0 + (plan.swap_in if plan.zero_for_one else -plan.swap_out) == a0
    assert plan.mint1 + plan.leftover1 + (-plan.swap_out if plan.zero_for_one else plan.swap_in) == a1
    deposit = amm.value_in_token1(a0, a1, s.reserve0, s.reserve1)
    return dust, deposit, amm.value_in_token1(1, 1, s.reserve0, s.reserve1)


# a steep pool: about 148 wei of token1 buy the same wei of token0, so the swap that balances the
# deposit lies a whole flat run away from the closed form; searching +-2 around it left 469 wei of
# token1 where one wei of token0 (about 148 wei of token1) is the least
STEEP = PairState(1_000_000, 13_700_373, 1_850_700, fee_bps=25)


@settings(max_examples=300)
@given(state=pair_states(), a0=st.integers(0, 10**28), a1=st.integers(0, 10**28))
@example(state=STEEP, a0=52, a1=133_897_177)
def test_zap_dust_is_bounded_by_a_millionth_plus_integer_granularity(
    state: PairState, a0: int, a1: int
) -> None:
    # any pool, deposits up to 10 times its reserves: the dust is a millionth of the
    # deposit plus a few wei of each token (the integer steps of one swap and one quote)
    assume(a0 <= 10 * state.reserve0 and a1 <= 10 * state.reserve1)
    try:
        dust, deposit, one_wei_each = _zap_dust(a0, a1, state)
    except amm.MathError:
        return
    assert dust <= deposit / 10**6 + 2 * one_wei_each


@settings(max_examples=300)
@given(
    r0=st.integers(10**15, 10**30),
    price=st.fractions(Fraction(1, 10**6), Fraction(10**6)),
    share0=st.integers(0, 10**4),
    share1=st.integers(0, 10**4),
    fee=fees,
)
def test_zap_dust_is_at_most_a_millionth_of_a_realistic_deposit(
    r0: int, price: Fraction, share0: int, share1: int, fee: int
) -> None:
    # deposits up to 10% of the pool on each side, pools with at least 10^15 base units a side
    r1 = int(r0 * price)
    assume(10**15 <= r1 <= 10**30 and share0 + share1 > 0)
    state = PairState(r0, r1, math.isqrt(r0 * r1), fee_bps=fee)
    dust, deposit, _ = _zap_dust(r0 * share0 // 10**5, r1 * share1 // 10**5, state)
    assert dust <= deposit / 10**6


def _split(a0: int, a1: int, state: PairState, swap_in: int, zero_for_one: bool) -> amm.ZapPlan | None:
    """Swap `swap_in` (if it buys anything), then mint what the router matches; None if that mints nothing."""
    held0, held1, pair, swap_out = a0, a1, state, 0
    if swap_in > 0:
        if pair.amount_out(swap_in, zero_for_one) == 0:
            return None
        swap_out, pair = pair.after_swap(swap_in, zero_for_one)
        held0, held1 = (
            (held0 - swap_in, held1 + swap_out) if zero_for_one else (held0 + swap_out, held1 - swap_in)
        )
    mint0, mint1 = 0, 0
    if held0 > 0 and held1 > 0:
        mint0, mint1 = held0, amm.quote(held0, pair.reserve0, pair.reserve1)
        if mint1 > held1:
            mint0, mint1 = amm.quote(held1, pair.reserve1, pair.reserve0), held1
    try:
        minted = pair.after_mint(mint0, mint1)
    except amm.InsufficientLiquidityMinted:
        return None
    return amm.ZapPlan(
        swap_in=swap_in,
        zero_for_one=zero_for_one,
        swap_out=swap_out,
        mint0=mint0,
        mint1=mint1,
        liquidity=minted.liquidity,
        leftover0=held0 - mint0,
        leftover1=held1 - mint1,
        state=minted.state,
    )


@settings(max_examples=300)
@given(state=pair_states(), a0=st.integers(0, 10**28), a1=st.integers(0, 10**28))
@example(state=STEEP, a0=52, a1=133_897_177)
def test_no_neighbouring_split_leaves_less_dust_than_the_zap(state: PairState, a0: int, a1: int) -> None:
    # the neighbours that matter: one wei more or less, and the ends of the flat runs of swaps
    # that buy one wei more or less than the zap's swap (the pair accepts any swap passing K)
    try:
        plan = amm.plan_zap(a0, a1, state)
    except amm.MathError:
        return
    assert _split(a0, a1, state, plan.swap_in, plan.zero_for_one) == plan
    reserve_in, reserve_out = state.reserves(plan.zero_for_one)
    limit = a0 if plan.zero_for_one else a1
    swaps = {0, plan.swap_in - 1, plan.swap_in + 1}
    for out in (plan.swap_out - 1, plan.swap_out, plan.swap_out + 1):
        if 0 < out < reserve_out:
            least = amm.get_amount_in(out, reserve_in, reserve_out, state.fee_bps)  # exact or one wei over
            swaps |= {least - 2, least - 1, least}
    for swap_in in sorted(s for s in swaps if 0 <= s <= limit):
        other = _split(a0, a1, state, swap_in, plan.zero_for_one)
        assert other is None or other.dust >= plan.dust, (
            f"swap {swap_in} leaves {other.dust}, zap {plan.dust}"
        )


@st.composite
def small_pools(draw: st.DrawFn) -> PairState:
    # down to a hundred wei a side, prices up to 1:10,000, so a flat run of swaps that buy the
    # same output can be longer than the whole deposit, and a deposit can be worth one LP wei
    r0, r1 = draw(st.integers(100, 20_000)), draw(st.integers(100, 20_000))
    steep = draw(st.integers(1, 50))
    r0, r1 = (r0 * steep, r1) if draw(st.booleans()) else (r0, r1 * steep)
    supply = max(amm.MINIMUM_LIQUIDITY + 1, math.isqrt(r0 * r1) * draw(st.integers(20, 100)) // 100)
    on = draw(st.booleans())
    k_last = r0 * r1 * draw(st.integers(50, 100)) // 100 if on else 0
    return PairState(r0, r1, supply, k_last=k_last, fee_bps=draw(fees), fee_on=on)


@given(state=small_pools(), a0=st.integers(0, 1_500), a1=st.integers(0, 1_500))
@example(state=PairState(1_000, 148_000, 12_165, fee_bps=25), a0=0, a1=1_500)
@example(state=PairState(100, 478, 1_001, fee_bps=0), a0=0, a1=18)  # found on the +-2 search
def test_zap_leaves_the_least_dust_of_every_split(state: PairState, a0: int, a1: int) -> None:
    # brute force: every swap of either token, the ones that mint anything, the least dust
    assume(a0 + a1 > 0)
    splits = (
        _split(a0, a1, state, swap_in, zero_for_one)
        for zero_for_one, limit in ((True, a0), (False, a1))
        for swap_in in range(limit + 1)
    )
    least = min((split.dust for split in splits if split is not None), default=None)
    if least is None:
        with pytest.raises(amm.InsufficientLiquidityMinted):
            amm.plan_zap(a0, a1, state)
        return
    plan = amm.plan_zap(a0, a1, state)
    assert plan.dust == least
    assert _split(a0, a1, state, plan.swap_in, plan.zero_for_one) == plan


@given(k=st.floats(min_value=0.01, max_value=100))
def test_closed_form_il_is_never_positive_and_zero_at_one(k: float) -> None:
    assert amm.impermanent_loss(k) <= 1e-15
    assert amm.impermanent_loss(1.0) == 0.0


@given(r=st.integers(10**18, 10**27), k_num=st.integers(25, 400))
def test_exact_il_from_amounts_matches_the_closed_form_without_fees(r: int, k_num: int) -> None:
    # a fee-free pool of (r, r) moved to price ratio k = k_num/100 by an arbitrage swap
    k = Fraction(k_num, 100)
    state = PairState(r, r, r, fee_bps=0)
    # the pool's token0 price in token1 is r1/r0; for ratio k with r0*r1 = r^2: r0 = r/sqrt(k)
    target_r0 = math.isqrt(int(r * r / k))
    moved = state
    if target_r0 < r:
        _, moved = state.after_swap(amm.get_amount_in(r - target_r0, r, r, 0), zero_for_one=False)
    elif target_r0 > r:
        _, moved = state.after_swap(target_r0 - r, zero_for_one=True)
    il = amm.impermanent_loss_exact(r, r, moved.reserve0, moved.reserve1, moved.reserve0, moved.reserve1)
    realised_k = Fraction(moved.reserve1, moved.reserve0)
    assert float(il) == pytest.approx(amm.impermanent_loss(float(realised_k)), abs=1e-9)


@given(state=pair_states(fee_on=False), a=st.integers(10**6, 10**24))
def test_fees_grow_sqrt_k_per_share_and_mints_do_not(state: PairState, a: int) -> None:
    assume(state.fee_bps > 0)
    try:
        _, swapped = state.after_swap(a, zero_for_one=True)
    except amm.MathError:
        return
    assert amm.fee_growth(state, swapped) >= 0
    a0 = swapped.reserve0 // 10
    a1 = amm.quote(a0, swapped.reserve0, swapped.reserve1)
    assume(a1 > 0)
    minted = swapped.after_mint(a0, a1)
    # a mint only rounds: one LP wei of the supply, the quote's floor on a1, the two square roots
    growth = amm.fee_growth(swapped, minted.state)
    root_k = math.isqrt(swapped.reserve0 * swapped.reserve1)
    assert abs(growth) <= Fraction(2, minted.state.total_supply) + Fraction(1, a1) + Fraction(2, root_k)
