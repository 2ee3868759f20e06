"""Planner properties on random books (pure; the chain tests prove the same plans execute exactly).

A random world of five tokens (6, 8 and 18 decimals) in six pools of random depth and price,
a vault with random LP and idle holdings, random targets. For every plan:
- value at the snapshot's prices after = before - LP fees - price impact + what the book's own
  LP earns back, up to a few base units of rounding per op;
- no token is both sold and bought (routes start at surpluses and end at deficits);
- every min-out is at least 1 and at most the predicted amount;
- every mint leaves dust of at most 1e-6 of its value;
- weights after are near the targets; a plan is deterministic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from eth_utils.address import to_checksum_address
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.book import Book
from bot.core.decision import Held, Rebalance, decide
from bot.core.executor_ops import CARRY, MAX_OPS_BYTES, Burn, Mint, Swap, decode_ops, encode_ops, field_amount
from bot.core.planner import DUST_LIMIT, Plan, plan_rebalance
from bot.core.snapshot import PairSnapshot, Snapshot, TokenInfo
from bot.core.valuation import BookView, value_book
from strategies import build

ZERO = "0x" + "00" * 20
USD = {"USDC": 1, "WETH": 3000, "WBTC": 60_000, "DAI": 1, "LINK": 15}
DECIMALS = {"USDC": 6, "WETH": 18, "WBTC": 8, "DAI": 18, "LINK": 18}
PAIRS = ["WETH/USDC", "WBTC/WETH", "WBTC/USDC", "DAI/USDC", "WETH/DAI", "LINK/WETH"]
IDLE = ["WETH", "USDC", "WBTC", "DAI"]
SLEEVES = PAIRS + IDLE


def address(n: int) -> str:
    return to_checksum_address(f"0x{n:040x}")


INFO = {s: TokenInfo(address(0xA0 + i), s, DECIMALS[s]) for i, s in enumerate(USD)}
PAIR_ADDRESS = {name: address(0xB0 + i) for i, name in enumerate(PAIRS)}


def world(
    depths: list[int], moves: list[int], shares: list[int], idle: list[int], weights: list[int], **policy: Any
) -> BookView:
    """A valued book: pool depths (USD per side), price moves (percent), LP shares (basis points)."""
    pairs = []
    for name, depth, move, share in zip(PAIRS, depths, moves, shares, strict=True):
        a, b = (INFO[s] for s in name.split("/"))
        t0, t1 = sorted((a, b), key=lambda t: t.address.lower())
        r0 = int(Fraction(depth) / USD[t0.symbol] * 10**t0.decimals * Fraction(100 + move, 100))
        r1 = int(Fraction(depth) / USD[t1.symbol] * 10**t1.decimals)
        supply = math.isqrt(r0 * r1)
        pairs.append(
            PairSnapshot(
                PAIR_ADDRESS[name],
                address(0xFAC),
                ZERO,
                t0,
                t1,
                r0,
                r1,
                0,
                supply,
                0,
                0,
                0,
                supply * share // 10_000,
            )
        )
    balances = {
        INFO[s].address: int(Fraction(usd) / USD[s] * 10 ** DECIMALS[s])
        for s, usd in zip(IDLE, idle, strict=True)
    }
    balances |= {INFO["LINK"].address: 0}
    snapshot = Snapshot(
        100,
        1_700_000_000,
        10**9,
        1,
        address(0xBEEF),
        10**18,
        tuple(pairs),
        {t.address: t for t in INFO.values()},
        balances,
    )
    # targets as 4-decimal strings summing to exactly 1: the last sleeve takes the rounding
    total = sum(weights)
    ten_thousandths = [w * 10_000 // total for w in weights]
    ten_thousandths[-1] += 10_000 - sum(ten_thousandths)
    raw = {
        "vault": address(0xBEEF),
        "numeraire": "USDC",
        "tokens": {s: t.address for s, t in INFO.items()},
        "pairs": PAIR_ADDRESS,
        "policy": {"band": 0.0, "deadband": 0, "min_trade_value": 0, **policy},
        "sleeves": [
            {("pair" if "/" in label else "token"): label, "target": f"{n / 10_000:.4f}"}
            for label, n in zip(SLEEVES, ten_thousandths, strict=True)
        ],
    }
    book = Book.parse(raw)
    return value_book(book, snapshot)


books = st.builds(
    world,
    depths=st.lists(st.integers(2_000_000, 60_000_000), min_size=6, max_size=6),
    moves=st.lists(st.integers(-30, 30), min_size=6, max_size=6),
    # positions of at least ~$1,000: below that, one base unit of a 6-decimal token is more
    # than a millionth of a mint, and the dust bound is about granularity, not the planner
    shares=st.lists(st.one_of(st.just(0), st.integers(5, 200)), min_size=6, max_size=6),  # <= 2% of a pool
    idle=st.lists(st.one_of(st.just(0), st.integers(1_000, 100_000)), min_size=4, max_size=4),
    weights=st.lists(st.integers(0, 20), min_size=10, max_size=10).filter(lambda w: sum(w) > 0),
)


def targets_of(view: BookView) -> dict[str, Fraction]:
    return {s.label: s.target for s in view.sleeves}


def value_at(view: BookView, balances: dict[str, int], lp: dict[str, int], pairs: dict[str, Any]) -> Fraction:
    """Holdings valued at the snapshot's spot prices (LP as its share of the reserves)."""
    unit = {a: p.value / 10 ** view.snapshot.tokens[a].decimals for a, p in view.prices.items()}
    value = sum((n * unit[a] for a, n in balances.items()), Fraction(0))
    for pair in view.pairs.values():
        state = pairs[pair.address]
        share = Fraction(lp[pair.address], state.total_supply)
        value += share * (
            state.reserve0 * unit[pair.token0.address] + state.reserve1 * unit[pair.token1.address]
        )
    return value


def planned(view: BookView) -> Plan:
    plan = plan_rebalance(view, targets_of(view))
    assume(plan.ops)
    return plan


@given(books)
def test_value_after_is_value_before_less_fees_and_impact(view: BookView) -> None:
    plan = planned(view)
    before_state = {p.address: p.state(30) for p in view.pairs.values()}
    before_balances = {t.address: view.snapshot.balances.get(t.address, 0) for t in view.tokens.values()}
    before = value_at(
        view, before_balances, {p.address: p.holder_lp for p in view.pairs.values()}, before_state
    )
    after = value_at(view, dict(plan.balances), dict(plan.lp), dict(plan.pairs))
    costs = plan.costs
    expected = before - costs.lp_fees - costs.price_impact + costs.own_lp_rebate
    # rounding: burns and mints floor to base units; allow two units of the dearest token per op
    unit = max(p.value / 10 ** view.snapshot.tokens[a].decimals for a, p in view.prices.items())
    assert abs(after - expected) <= 2 * unit * len(plan.ops)
    # (impact and the rebate may be negative: a pool priced off the reference route trades at a gain)
    assert costs.lp_fees >= 0
    # fees are fee_bps of every hop's input, valued at the snapshot's prices
    swaps = [p for p in plan.ops if isinstance(p.op, Swap)]
    unit_of = {a: p.value / 10 ** view.snapshot.tokens[a].decimals for a, p in view.prices.items()}
    assert costs.lp_fees == sum(
        (Fraction(30, 10_000) * amount * unit_of[token] for p in swaps for token, amount in p.spent.items()),
        Fraction(0),
    )


@given(books)
def test_no_token_is_both_sold_and_bought(view: BookView) -> None:
    plan = planned(view)
    legs = {p.leg for p in plan.ops if p.leg is not None}
    sold, bought = {leg[0] for leg in legs}, {leg[1] for leg in legs}
    assert not sold & bought
    # every swap belongs to a route, and a route's hops chain from what it sells to what it buys
    assert all(p.leg is not None for p in plan.ops if isinstance(p.op, Swap))


@given(books)
def test_min_outs_are_never_zero_and_never_above_the_prediction(view: BookView) -> None:
    plan = planned(view)
    for p in plan.ops:
        op = p.op
        if isinstance(op, Burn):
            a0, a1 = p.received.values()
            assert 1 <= op.min_amount0 <= a0 and 1 <= op.min_amount1 <= a1
            assert op.min_amount0 >= a0 * (10_000 - 50) // 10_000
        elif isinstance(op, Swap):
            (out,) = p.received.values()
            assert 1 <= op.min_out <= out
        else:
            assert isinstance(op, Mint)
            (liquidity,) = p.received.values()
            assert 1 <= op.min_liquidity <= liquidity
    # the bundle fits the vault and survives its own encoding
    packed = encode_ops(plan.executor_ops)
    assert len(packed) <= MAX_OPS_BYTES
    assert decode_ops(packed) == plan.executor_ops


@given(books)
def test_mints_leave_dust_of_at_most_a_millionth_and_no_balance_goes_negative(view: BookView) -> None:
    plan = planned(view)

    # one base unit of the coarsest token the plan trades (a satoshi of WBTC, 6e-4 USD) is a floor
    def unit(a: str) -> Fraction:
        return view.prices[a].value / 10 ** view.snapshot.tokens[a].decimals

    traded = {a for p in plan.ops for a in (*p.spent, *p.received) if a in view.prices}
    coarsest = max(unit(a) for a in traded)
    for p in plan.ops:
        if isinstance(p.op, Mint):
            label = p.purpose.removeprefix("mint ")
            value = sum(n * unit(a) for a, n in p.spent.items())
            assert plan.dust_floor[label] <= float(2 * coarsest / value) * (1 + 1e-9)
            assert plan.dust[label] <= max(DUST_LIMIT, plan.dust_floor[label]), (label, float(value))
    assert all(n >= 0 for n in plan.balances.values())
    assert all(n >= 0 for n in plan.lp.values())
    minted = {p.op.pair for p in plan.ops if isinstance(p.op, Mint)}
    assert {view.book.pairs[label] for label in plan.dust} == minted


consistent_books = st.builds(
    world,
    depths=st.lists(st.integers(20_000_000, 60_000_000), min_size=6, max_size=6),
    moves=st.just([0] * 6),
    # a book of at most ~1.5% of the shallowest pool, as a keeper trades
    shares=st.lists(st.one_of(st.just(0), st.integers(1, 5)), min_size=6, max_size=6),
    idle=st.lists(st.one_of(st.just(0), st.integers(1_000, 50_000)), min_size=4, max_size=4),
    weights=st.lists(st.integers(0, 20), min_size=10, max_size=10).filter(lambda w: sum(w) > 0),
)


@given(consistent_books)
def test_weights_after_are_near_the_targets(view: BookView) -> None:
    plan = planned(view)
    targets = targets_of(view)
    # pools that agree on prices (pools that disagree hand one side a gain: its weight lands off by
    # that gain); our own swaps move the pools a little and cost fees: the post-trade weights at
    # post-trade prices land within half a point of the targets
    for label, target in targets.items():
        assert abs(plan.weights_after[label] - target) <= Fraction(5, 1000), label
    before = sum(abs(plan.weights_before[label] - t) for label, t in targets.items())
    after = sum(abs(plan.weights_after[label] - t) for label, t in targets.items())
    assert after < before


@given(books)
def test_the_same_book_gives_the_same_plan(view: BookView) -> None:
    first, second = plan_rebalance(view, targets_of(view)), plan_rebalance(view, targets_of(view))
    assert first == second


def test_the_cost_gate_holds_when_the_cost_passes_the_books_maximum() -> None:
    args = ([5_000_000] * 6, [0] * 6, [100, 0, 50, 0, 0, 100], [50_000, 0, 0, 0], [1] * 10)
    free = world(*args, max_cost_bps=10_000, benefit_bps=10_000)
    decision = decide(free, build(free.book))
    assert isinstance(decision, Rebalance)
    bps = decision.plan.costs.bps
    strict = world(*args, max_cost_bps=float(bps) / 2, benefit_bps=10_000)
    held = decide(strict, build(strict.book))
    assert isinstance(held, Held) and "over the book's maximum" in held.reason
    unbeneficial = world(*args, max_cost_bps=10_000, benefit_bps=0)
    held = decide(unbeneficial, build(unbeneficial.book))
    assert isinstance(held, Held) and "exceeds the expected benefit" in held.reason


def test_trades_under_the_deadband_are_skipped_and_the_rest_still_balance() -> None:
    view = world(
        [5_000_000] * 6, [0] * 6, [100] * 6, [50_000, 50_000, 74_000, 1_000], [10] * 10, deadband=0.01
    )
    plan = plan_rebalance(view, targets_of(view))
    # WBTC is 3,500 under a target of 77,500: under 1% of the book's 775,000
    assert plan.skipped == ("WBTC",)
    assert plan.ops
    traded = {p.purpose.split(" ", 1)[1] for p in plan.ops if not isinstance(p.op, Swap)}
    assert not traded & set(plan.skipped)


@given(books)
def test_carried_amounts_are_exactly_the_planned_ones_when_nothing_moves(view: BookView) -> None:
    """Replaying the vault's carry tally over the plan's own predictions gives back every planned
    amount: carrying changes nothing unless the market moves."""
    plan = planned(view)
    carry: dict[str, int] = {}
    spenders: dict[str, list[int]] = {}
    for i, p in enumerate(plan.ops):
        for token in p.spent:
            spenders.setdefault(token, []).append(i)
    for i, p in enumerate(plan.ops):
        op = p.op
        fields: list[tuple[str, int]] = []
        if isinstance(op, Swap):
            fields = [(next(iter(p.spent)), op.amount_in)]
        elif isinstance(op, Mint):
            pair = next(v for v in view.pairs.values() if v.address == op.pair)
            fields = [(pair.token0.address, op.amount0), (pair.token1.address, op.amount1)]
        for token, field in fields:
            if field & CARRY:
                assert spenders[token][-1] == i  # only a token's last spender carries
                assert field_amount(field, carry.get(token, 0)) == p.spent[token]
                if isinstance(op, Swap):
                    assert op.min_out == 1  # the floors bound what a carried swap gives
            else:
                assert field == p.spent[token]
        for token, amount in p.spent.items():
            carry[token] = max(0, carry.get(token, 0) - amount)
        for token, amount in p.received.items():
            carry[token] = carry.get(token, 0) + amount
