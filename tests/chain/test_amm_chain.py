"""The pure math against the real Uniswap V2 pairs: predictions equal the chain, to the wei.

Hypothesis draws sequences of swaps, mints, burns and feeTo switches on pairs of 6, 8
and 18 decimal tokens; after every step the predicted amounts and the predicted pair
state (reserves, totalSupply, kLast) must equal what the pair did.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from anvil.world import TOKENS, WETH, set_fee_to
from bot.core import amm
from bot.core.amm import Hop
from tests.chain.conftest import World

SEED_USD = {spec.symbol: spec.usd for spec in (WETH, *TOKENS)}
EXACT_PAIRS = ["WETH/USDC", "WBTC/WETH", "WBTC/USDC", "DAI/USDC"]  # 18/6, 8/18, 8/6, 18/6 decimals


class PairActor:
    """Calls a pair directly (transfer, then swap/mint/burn) and reports what really moved."""

    def __init__(self, world: World, pair: Contract, who: str) -> None:
        self.world, self.pair, self.who = world, pair, who
        self.token0 = world.token(pair.functions.token0().call())
        self.token1 = world.token(pair.functions.token1().call())
        self.treasury = world.book.accounts["treasury"]

    def balance(self, token: Contract) -> int:
        return int(token.functions.balanceOf(self.who).call())

    def swap(self, amount_in: int, zero_for_one: bool, amount_out: int) -> int:
        token_in, token_out = (self.token0, self.token1) if zero_for_one else (self.token1, self.token0)
        self.world.send(token_in.functions.transfer(self.pair.address, amount_in), self.who)
        outs = (0, amount_out) if zero_for_one else (amount_out, 0)
        too_much = (0, amount_out + 1) if zero_for_one else (amount_out + 1, 0)
        # one wei more than predicted breaks the pair's K check: the prediction is the exact maximum
        with pytest.raises(ContractLogicError, match="UniswapV2: K"):
            self.pair.functions.swap(*too_much, self.who, b"").call({"from": self.who})
        before = self.balance(token_out)
        self.world.send(self.pair.functions.swap(*outs, self.who, b""), self.who)
        return self.balance(token_out) - before

    def mint(self, amount0: int, amount1: int) -> tuple[int, int]:
        """Returns (LP minted to us, LP minted to feeTo)."""
        self.world.send(self.token0.functions.transfer(self.pair.address, amount0), self.who)
        self.world.send(self.token1.functions.transfer(self.pair.address, amount1), self.who)
        lp_before, fee_before = self.balance(self.pair), self.pair.functions.balanceOf(self.treasury).call()
        self.world.send(self.pair.functions.mint(self.who), self.who)
        return self.balance(self.pair) - lp_before, self.pair.functions.balanceOf(
            self.treasury
        ).call() - fee_before

    def burn(self, liquidity: int) -> tuple[int, int, int]:
        """Returns (token0 out, token1 out, LP minted to feeTo)."""
        self.world.send(self.pair.functions.transfer(self.pair.address, liquidity), self.who)
        b0, b1 = self.balance(self.token0), self.balance(self.token1)
        fee_before = self.pair.functions.balanceOf(self.treasury).call()
        self.world.send(self.pair.functions.burn(self.who), self.who)
        fee = self.pair.functions.balanceOf(self.treasury).call() - fee_before
        return self.balance(self.token0) - b0, self.balance(self.token1) - b1, fee


def _fraction_of(total: int, parts_per_million: int) -> int:
    return max(1, total * parts_per_million // 10**6)


ops = st.sampled_from(
    ["swap01", "swap10", "swap01", "swap10", "mint", "mint_imbalanced", "burn", "fee_switch"]
)
# up to 1000: a raw amount in wei (tiny trades); above: parts per million of a reserve, up to 20%
sizes = st.one_of(st.integers(1, 1000), st.integers(1001, 200_000))


@settings(settings.get_profile("chain"))
@given(
    name=st.sampled_from(EXACT_PAIRS), fee_on=st.booleans(), steps=st.lists(st.tuples(ops, sizes), max_size=6)
)
def test_swaps_mints_and_burns_equal_the_pair_to_the_wei(
    world: World, name: str, fee_on: bool, steps: list[tuple[str, int]]
) -> None:
    snapshot_id = world.snapshot()  # hypothesis examples share the test's fixture: isolate each one
    try:
        if fee_on:
            set_fee_to(world.node.url, world.book, on=True)
        pair = world.pair(name)
        actor = PairActor(world, pair, world.book.accounts["whale"])
        state = world.pair_state(pair.address)
        # start with a mint so the whale holds LP to burn (and kLast is set when feeTo is on)
        steps = [("mint", 10_000), *steps]
        for op, size in steps:
            if op in ("swap01", "swap10"):
                zero_for_one = op == "swap01"
                reserve_in = state.reserve0 if zero_for_one else state.reserve1
                amount_in = size if size <= 1000 else _fraction_of(reserve_in, size)
                try:
                    predicted, after = state.after_swap(amount_in, zero_for_one)
                except amm.InsufficientOutputAmount:
                    # we refuse exactly when the pair would: an input that buys nothing
                    assert state.amount_out(amount_in, zero_for_one) == 0
                    continue
                assert actor.swap(amount_in, zero_for_one, predicted) == predicted
                state = after
            elif op in ("mint", "mint_imbalanced"):
                amount0 = _fraction_of(state.reserve0, size)
                amount1 = amm.quote(amount0, state.reserve0, state.reserve1)
                if op == "mint_imbalanced":
                    amount1 = amount1 * 3 // 2 + 1  # the excess is donated to the pool
                try:
                    minted = state.after_mint(amount0, amount1)
                except amm.InsufficientLiquidityMinted:
                    continue
                assert actor.mint(amount0, amount1) == (minted.liquidity, minted.fee_liquidity)
                state = minted.state
            elif op == "burn":
                held = actor.balance(pair)
                liquidity = _fraction_of(held, min(size, 10**6)) if held else 0
                if liquidity == 0:
                    continue
                burned = state.after_burn(liquidity)
                assert actor.burn(liquidity) == (burned.amount0, burned.amount1, burned.fee_liquidity)
                state = burned.state
            else:
                state = replace(state, fee_on=not state.fee_on)
                set_fee_to(world.node.url, world.book, on=state.fee_on)
            assert world.pair_state(pair.address) == state
    finally:
        world.revert(snapshot_id)


def test_fee_on_mints_the_protocol_fee_after_swaps_grew_k(world: World, roles: dict[str, str]) -> None:
    # a deterministic companion to the property: feeTo on, kLast set, swaps, then a burn pays the fee
    set_fee_to(world.node.url, world.book, on=True)
    pair = world.pair("WETH/USDC")
    actor = PairActor(world, pair, roles["whale"])
    state = world.pair_state(pair.address)
    minted = state.after_mint(10**18, amm.quote(10**18, state.reserve0, state.reserve1))
    assert actor.mint(10**18, amm.quote(10**18, state.reserve0, state.reserve1))[0] == minted.liquidity
    state = minted.state
    assert state.k_last == state.reserve0 * state.reserve1 != 0
    for zero_for_one in (True, False, True):
        amount_in = (state.reserve0 if zero_for_one else state.reserve1) // 50
        out, state = state.after_swap(amount_in, zero_for_one)
        assert actor.swap(amount_in, zero_for_one, out) == out
    burned = state.after_burn(minted.liquidity // 2)
    assert burned.fee_liquidity > 0
    assert actor.burn(minted.liquidity // 2) == (burned.amount0, burned.amount1, burned.fee_liquidity)
    assert world.pair_state(pair.address) == burned.state


@settings(settings.get_profile("chain"))
@given(usd=st.integers(1, 2_000_000))
def test_router_multi_hop_equals_our_path_quote(world: World, usd: int) -> None:
    t, book = world.book.tokens, world.book
    whale = book.accounts["whale"]
    path = [t["USDC"].address, t["WETH"].address, t["WBTC"].address]
    hops = []
    for a, b in itertools.pairwise(path):
        name = next(n for n, e in book.pairs.items() if {t[e.token0].address, t[e.token1].address} == {a, b})
        entry = book.pairs[name]
        r0, r1, _ = world.pair(entry.address).functions.getReserves().call()
        hops.append(
            Hop(r0, r1, book.dex.fee_bps) if t[entry.token0].address == a else Hop(r1, r0, book.dex.fee_bps)
        )
    amount_in = usd * 10**6
    predicted = amm.get_amounts_out(amount_in, hops)
    assert world.router.functions.getAmountsOut(amount_in, path).call() == predicted
    assert world.router.functions.getAmountsIn(predicted[-1], path).call() == amm.get_amounts_in(
        predicted[-1], hops
    )
    snapshot_id = world.snapshot()
    try:
        wbtc = world.token("WBTC")
        before = wbtc.functions.balanceOf(whale).call()
        world.send(world.token("USDC").functions.approve(book.dex.router, amount_in), whale)
        fn = world.router.functions.swapExactTokensForTokens(amount_in, predicted[-1], path, whale, 2**32)
        world.send(fn, whale)
        assert wbtc.functions.balanceOf(whale).call() - before == predicted[-1]
    finally:
        world.revert(snapshot_id)


def test_fee_on_transfer_input_is_priced_on_what_the_pair_receives(
    world: World, roles: dict[str, str]
) -> None:
    entry = world.book.pairs["FOT/WETH"]
    pair = world.pair(entry.address)
    actor = PairActor(world, pair, roles["whale"])
    fot_fee = world.book.tokens["FOT"].transfer_fee_bps
    state = world.pair_state(pair.address)
    sent = 1_234 * 10**18
    received = sent - sent * fot_fee // 10_000
    zero_for_one = entry.token0 == "FOT"
    out, after = state.after_swap(received, zero_for_one)
    # the actor sends `sent`; the pair prices what arrived
    assert actor.swap(sent, zero_for_one, out) == out
    assert world.pair_state(pair.address) == after


@pytest.mark.parametrize(
    ("name", "usd0", "usd1"),
    [
        ("WETH/USDC", 100_000, 0),  # single-sided, 18 decimals in
        ("WETH/USDC", 0, 250_000),  # single-sided, 6 decimals in
        ("WBTC/USDC", 40_000, 7_000),  # two-sided imbalanced, 8 and 6 decimals
        ("WBTC/WETH", 3_000, 90_000),
    ],
)
def test_a_zap_mints_what_we_predict_and_leaves_at_most_a_millionth(
    world: World, roles: dict[str, str], name: str, usd0: int, usd1: int
) -> None:
    entry = world.book.pairs[name]
    pair = world.pair(entry.address)
    actor = PairActor(world, pair, roles["whale"])
    state = world.pair_state(pair.address)
    d0, d1 = world.book.tokens[entry.token0].decimals, world.book.tokens[entry.token1].decimals
    # usd0/usd1 are in the pair's token order, at the world's seed prices
    amount0 = int(Fraction(usd0) / SEED_USD[entry.token0] * 10**d0)
    amount1 = int(Fraction(usd1) / SEED_USD[entry.token1] * 10**d1)
    plan = amm.plan_zap(amount0, amount1, state)
    if plan.swap_in:
        assert actor.swap(plan.swap_in, plan.zero_for_one, plan.swap_out) == plan.swap_out
    assert actor.mint(plan.mint0, plan.mint1) == (plan.liquidity, 0)
    assert world.pair_state(pair.address) == plan.state
    after = plan.state
    dust = amm.value_in_token1(plan.leftover0, plan.leftover1, after.reserve0, after.reserve1)
    deposit = amm.value_in_token1(amount0, amount1, after.reserve0, after.reserve1)
    assert dust <= deposit / 10**6
