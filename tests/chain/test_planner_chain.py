"""The planner against the vault on the real V2 pairs: predicted post-state == execute, to the wei.

Hypothesis draws price moves (whale swaps) and random target weights for the world's book
(6, 8 and 18-decimal tokens; pairs burned from and swapped through in one bundle). For every
plan: the eth_call simulation and the executed bundle leave the vault's balances, its LP and
every pair's reserves, supply and kLast exactly as predicted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from anvil.world import VAULT_GUARDS, ensure_world, set_fee_to
from bot.chain import rpc
from bot.chain.contracts import compiled
from bot.chain.snapshot_reader import SnapshotReader
from bot.chain.vault import BundleReverted, read_guards, simulate
from bot.core.book import Book
from bot.core.executor_ops import CARRY, Burn, Mint, Swap, execute_calldata
from bot.core.planner import DUST_LIMIT, Plan, plan_rebalance
from bot.core.valuation import BookView, value_book
from tests.chain.conftest import World

FAR = 2**40
BUNDLE_ID = b"\x42" * 32
SLEEVES = [
    "WETH/USDC",
    "WBTC/WETH",
    "WBTC/USDC",
    "DAI/USDC",
    "WETH/DAI",
    "LINK/WETH",
    "WETH",
    "USDC",
    "WBTC",
    "DAI",
]
MOVABLE = ["WETH/USDC", "WBTC/WETH", "WBTC/USDC", "DAI/USDC", "WETH/DAI", "LINK/WETH"]


def exact_book(**policy: Any) -> Book:
    """The world's book with no deadband or minimum trade (every trade is made), or `policy` as given."""
    raw = Book.load(ensure_world().config).model_dump(mode="json", exclude_none=True)
    raw["policy"] = {**raw["policy"], "deadband": 0, "min_trade_value": 0, **policy}
    return Book.parse(raw)


def view_of(world: World, book: Book) -> BookView:
    async def go() -> BookView:
        async with rpc.connect(world.node.url) as w3:
            tokens = [t.address for t in book.tokens.values()]
            snapshot = await SnapshotReader(w3).read(list(book.pairs.values()), book.vault, tokens)
            guards = await read_guards(w3, book.vault, list(book.pairs.values()), snapshot.block_number)
        return value_book(book, snapshot, vault=guards)

    return asyncio.run(go())


def move_price(world: World, name: str, parts_per_10k: int, zero_for_one: bool) -> None:
    """A whale swap of `parts_per_10k` of a reserve straight into the pair."""
    pair = world.pair(name)
    whale = world.book.accounts["whale"]
    r0, r1, _ = pair.functions.getReserves().call()
    state = world.pair_state(pair.address)
    token = pair.functions.token0().call() if zero_for_one else pair.functions.token1().call()
    amount_in = (r0 if zero_for_one else r1) * parts_per_10k // 10_000
    out, _ = state.after_swap(amount_in, zero_for_one)
    world.send(world.token(token).functions.transfer(pair.address, amount_in), whale)
    world.send(
        pair.functions.swap(0, out, whale, b"") if zero_for_one else pair.functions.swap(out, 0, whale, b""),
        whale,
    )


def chain_state(world: World, plan: Plan) -> tuple[dict[str, int], dict[str, int], dict[str, Any]]:
    vault = world.book.accounts["vault"]
    balances = {t: world.token(t).functions.balanceOf(vault).call() for t in plan.balances}
    lp = {p: world.pair(p).functions.balanceOf(vault).call() for p in plan.lp}
    # the fee is the book's (per pair), not chain state: the plan's
    pairs = {p: dataclasses.replace(world.pair_state(p), fee_bps=plan.pairs[p].fee_bps) for p in plan.pairs}
    return balances, lp, pairs


def simulated(world: World, plan: Plan) -> dict[str, int]:
    async def go() -> dict[str, int]:
        async with rpc.connect(world.node.url) as w3:
            addresses = [*plan.balances, *plan.lp]
            return await simulate(
                w3,
                world.book.accounts["vault"],
                world.book.accounts["keeper"],
                plan.executor_ops,
                FAR,
                addresses,
            )

    return asyncio.run(go())


def execute(world: World, plan: Plan) -> Any:
    tx = {
        "from": world.book.accounts["keeper"],
        "to": world.book.accounts["vault"],
        "data": "0x" + execute_calldata(plan.executor_ops, FAR, BUNDLE_ID).hex(),
    }
    receipt = world.w3.eth.wait_for_transaction_receipt(world.w3.eth.send_transaction(tx))
    assert receipt["status"] == 1
    return receipt


def check_plan_on_chain(world: World, plan: Plan) -> Any:
    """simulate == prediction, execute == prediction (balances, LP, every pair's state); the
    bundle's floors cover every token and LP it touches and allow at most its loss bound."""
    predicted = {**plan.balances, **plan.lp}
    touched = {a for p in plan.ops for a in (*p.spent, *p.received)}
    assert plan.executor_ops[len(plan.ops) :] == list(plan.floors)
    assert {f.token for f in plan.floors} == touched
    assert all(f.minimum <= predicted[f.token] for f in plan.floors)
    budget = plan.costs.traded_value * exact_book().policy.slippage_bps / 10_000
    assert 0 <= plan.loss_bound <= budget
    assert simulated(world, plan) == predicted
    receipt = execute(world, plan)
    balances, lp, pairs = chain_state(world, plan)
    assert balances == plan.balances
    assert lp == plan.lp
    assert pairs == plan.pairs
    assert all(d <= max(DUST_LIMIT, plan.dust_floor[label]) for label, d in plan.dust.items())
    return receipt


weights = st.lists(st.integers(0, 20), min_size=len(SLEEVES), max_size=len(SLEEVES)).filter(
    lambda w: sum(w) > 0
)
moves = st.lists(
    st.tuples(st.sampled_from(MOVABLE), st.integers(1, 800), st.booleans()), min_size=0, max_size=3
)


@settings(settings.get_profile("chain"))
@given(raw_weights=weights, price_moves=moves, fee_on=st.booleans())
def test_random_books_and_price_moves_execute_exactly_as_planned(
    world: World, raw_weights: list[int], price_moves: list[tuple[str, int, bool]], fee_on: bool
) -> None:
    snapshot_id = world.snapshot()  # hypothesis examples share the test's fixture: isolate each one
    try:
        if fee_on:
            set_fee_to(world.node.url, world.book, on=True)
        for name, size, direction in price_moves:
            move_price(world, name, size, direction)
        book = exact_book()
        view = view_of(world, book)
        total = sum(raw_weights)
        targets = {label: Fraction(w, total) for label, w in zip(SLEEVES, raw_weights, strict=True)}
        plan = plan_rebalance(view, targets)
        assume(plan.ops)
        check_plan_on_chain(world, plan)
    finally:
        world.revert(snapshot_id)


def test_a_pair_burned_from_and_swapped_through_in_one_bundle(world: World) -> None:
    """The world's own book: burn WETH/USDC LP, then sell WETH for USDC in that same pair."""
    book = exact_book()
    view = view_of(world, book)
    targets = {s.label: s.target for s in view.sleeves}
    targets["WETH/USDC"] -= Fraction(5, 100)
    targets["USDC"] += Fraction(5, 100)
    plan = plan_rebalance(view, targets)
    weth_usdc = book.pairs["WETH/USDC"]
    kinds = [type(p.op) for p in plan.ops if p.op.pair == weth_usdc]
    assert Burn in kinds and Swap in kinds
    check_plan_on_chain(world, plan)


@pytest.mark.parametrize("case", ["exits", "mints_only", "everything", "guarded"])
def test_gas_model_is_within_five_percent_of_gas_used(world: World, case: str) -> None:
    if case == "guarded":  # every touched pair checked, both counters written (20%: this bundle moves pools)
        vault = world.w3.eth.contract(address=world.book.accounts["vault"], abi=compiled("Executor").abi)
        owner = world.book.accounts["owner"]
        g = VAULT_GUARDS
        world.send(vault.functions.set_guards(2_000, g.window_s, g.cooldown_s, g.per_day), owner)
        world.send(vault.functions.poke([e.address for e in world.book.pairs.values()]), owner)
        world.node.rpc("evm_increaseTime", g.window_s + 1)
        world.node.rpc("evm_mine")
    book = exact_book()
    view = view_of(world, book)
    targets = {s.label: s.target for s in view.sleeves}
    if case == "exits":  # leave two pairs for idle tokens
        for label in ("LINK/WETH", "WETH/DAI"):
            targets["USDC"] += targets[label]
            targets[label] = Fraction(0)
    elif case == "mints_only":  # idle tokens into pairs
        for label, to in (("WETH", "WETH/USDC"), ("DAI", "DAI/USDC"), ("WBTC", "WBTC/WETH")):
            targets[to] += targets[label]
            targets[label] = Fraction(0)
    else:
        targets = {label: Fraction(1, len(targets)) for label in targets}
    plan = plan_rebalance(view, targets)
    assert (plan.costs.upkeep_gas_units == 0) and view.vault.priced == (case == "guarded")
    receipt = check_plan_on_chain(world, plan)
    # the plan's figure is for a later deadline and the costliest bundle id: a few bytes of calldata apart
    predicted = plan.costs.gas_units
    used = receipt["gasUsed"]
    assert abs(predicted - used) <= used // 20, (case, predicted, used, len(plan.ops))


def outcome_of(world: World, ops: list[Any], addresses: list[str]) -> dict[str, int] | str:
    """The vault's balances of `addresses` after `ops` by eth_call, or the revert reason."""

    async def go() -> dict[str, int] | str:
        async with rpc.connect(world.node.url) as w3:
            try:
                vault, keeper = world.book.accounts["vault"], world.book.accounts["keeper"]
                return await simulate(w3, vault, keeper, ops, FAR, addresses)
            except BundleReverted as exc:
                return exc.reason

    return asyncio.run(go())


def _value_lost(plan: Plan, view: BookView, realized: dict[str, int]) -> Fraction:
    """What the vault ended below the prediction, over the floors' assets, at the plan's prices
    (tokens at the snapshot, LP at the predicted reserves)."""
    unit = {a: p.value / 10 ** view.snapshot.tokens[a].decimals for a, p in view.prices.items()}
    for address, state in plan.pairs.items():
        pair = next(p for p in view.pairs.values() if p.address == address)
        t0, t1 = pair.token0.address, pair.token1.address
        unit[address] = (state.reserve0 * unit[t0] + state.reserve1 * unit[t1]) / state.total_supply
    predicted = {**plan.balances, **plan.lp}
    return sum(((predicted[f.token] - realized[f.token]) * unit[f.token] for f in plan.floors), Fraction(0))


def test_front_runs_inside_every_min_out_cannot_take_more_than_the_bundles_loss_bound(world: World) -> None:
    """Per-op minimums compound (the issue saw 55.95 bps lost against slippage_bps = 50), and a
    carried op has none of its own. Front-running every pair the bundle touches, as far as its
    trades still go through, takes more than slippage_bps of the value traded: the floors refuse it."""
    book = exact_book(slippage_bps=50)
    view = view_of(world, book)
    targets = {s.label: s.target for s in view.sleeves}
    targets["WBTC/USDC"] += targets["LINK/WETH"]  # out of one pair into another, through swaps
    targets["LINK/WETH"] = Fraction(0)
    plan = plan_rebalance(view, targets)
    kinds = {type(p.op) for p in plan.ops}
    assert {Burn, Swap, Mint} <= kinds
    # the trades alone, their own minimums as loose as a min-out of 1: what stops a loss is the floors
    loose = {Burn: {"min_amount0": 1, "min_amount1": 1}, Swap: {"min_out": 1}, Mint: {"min_liquidity": 1}}
    trades_only = [dataclasses.replace(p.op, **loose[type(p.op)]) for p in plan.ops]  # type: ignore[arg-type]
    addresses = [f.token for f in plan.floors]

    def after(ops: list[Any]) -> dict[str, int] | str:
        return outcome_of(world, ops, addresses)

    def lost_now() -> Fraction:
        realized = after(trades_only)
        return _value_lost(plan, view, realized) if isinstance(realized, dict) else Fraction(-1)

    # every pair the bundle touches, pushed (whichever way costs the vault more) as far as every
    # op still passes its own minimum
    for pair in dict.fromkeys(p.op.pair for p in plan.ops):
        name = next(n for n, a in book.pairs.items() if a == pair)
        best: tuple[Fraction, int, bool] = (lost_now(), 0, True)
        for direction in (True, False):
            push = 0
            for step in (640, 320, 160, 80, 40, 20, 10, 5, 2, 1):
                snapshot_id = world.snapshot()
                move_price(world, name, push + step, direction)
                lost = lost_now()
                world.revert(snapshot_id)
                if lost >= 0:
                    push += step
                    best = max(best, (lost, push, direction))
        if best[1]:
            move_price(world, name, best[1], best[2])
    without_floors = after(trades_only)
    assert isinstance(without_floors, dict)  # the trades go through...
    assert _value_lost(plan, view, without_floors) > plan.loss_bound  # ...losing more than the bound
    floored = after([*trades_only, *plan.floors])
    assert isinstance(floored, str) and "a balance ends below its floor" in floored
    # the real bundle, with its own minimums too, is refused all the same (by whichever check fails first)
    reason = after(plan.executor_ops)
    assert isinstance(reason, str) and reason.startswith("executor: op ")


def test_a_bundle_carries_what_earlier_ops_produced_through_a_market_move(world: World) -> None:
    """A swap buys LINK and a mint adds it: a trade landing first used to make the mint revert (it
    sent exactly the planned LINK: a transfer underflow, no reason) or take another sleeve's LINK.
    The mint now carries what the swap produced, and the floors bound the cost."""
    book = exact_book(slippage_bps=50)
    view = view_of(world, book)
    targets = {s.label: s.target for s in view.sleeves}
    targets["LINK/WETH"] += targets["USDC"] / 2  # idle USDC into LINK/WETH: swaps, then a mint
    targets["USDC"] /= 2
    plan = plan_rebalance(view, targets)
    link = book.tokens["LINK"].address
    mint = next(p for p in plan.ops if isinstance(p.op, Mint) and p.op.pair == book.pairs["LINK/WETH"])
    assert (mint.op.amount0 | mint.op.amount1) & CARRY  # the mint carries LINK
    tokens = {p.address: (p.token0.address, p.token1.address) for p in view.pairs.values()}
    plain: list[Any] = []  # the same bundle sending exactly the planned amounts
    for p in plan.ops:
        op = p.op
        if isinstance(op, Swap):
            op = dataclasses.replace(op, amount_in=next(iter(p.spent.values())))
        elif isinstance(op, Mint):
            t0, t1 = tokens[op.pair]
            op = dataclasses.replace(op, amount0=p.spent[t0], amount1=p.spent[t1])
        plain.append(op)
    plain += plan.floors
    addresses = [*plan.balances, *plan.lp]

    def after(ops: list[Any]) -> dict[str, int] | str:
        return outcome_of(world, ops, addresses)

    assert after(plan.executor_ops) == {**plan.balances, **plan.lp}  # nothing moved: exact
    held_link = view.snapshot.balances.get(link, 0)
    # someone buys LINK first, a tenth of a percent of the pool: the swap gets a little less LINK
    move_price(world, "LINK/WETH", 10, world.book.pairs["LINK/WETH"].token0 == "WETH")
    moved = after(plan.executor_ops)
    assert isinstance(moved, dict), moved  # the bundle still executes...
    assert _value_lost(plan, view, moved) <= plan.loss_bound  # ...within its loss bound
    assert moved[link] >= held_link  # and spends no LINK but what its own swap produced
    exact = after(plain)
    assert isinstance(exact, str)  # sending exactly the planned amounts reverts instead
