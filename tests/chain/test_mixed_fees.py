"""A book that mixes DEXs: a 20 bps V2 fork's pair (PancakeSwap's original core, from npm) beside
the world's 30 bps Uniswap V2 pairs, planned and executed exactly; a book that says another fee
than the vault's is refused."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from anvil.fork_dex import ForkPair, add_fork_pair
from anvil.world import ensure_world
from bot.chain import rpc
from bot.core.book import Book
from bot.core.errors import BadInput
from bot.core.executor_ops import Swap
from bot.core.planner import plan_rebalance
from bot.keeper.planning import checked_chain
from tests.chain.conftest import World
from tests.chain.test_planner_chain import check_plan_on_chain, view_of

NAME = "LINK/USDC"


def mixed_book(fork: ForkPair, fee_bps: int | None = None) -> Book:
    """The world's book with the fork's LINK/USDC as a sleeve (the dex it names, its fee)."""
    raw = Book.load(ensure_world().config).model_dump(mode="json", exclude_none=True)
    raw["policy"] = {**raw["policy"], "deadband": 0, "min_trade_value": 0}
    dex = {"fee_bps": fee_bps or fork.fee_bps, "factory": fork.factory, "init_code_hash": fork.init_code_hash}
    raw["dexes"] = {"pancake": dex}
    raw["pairs"][NAME] = {"address": fork.pair, "dex": "pancake"}
    raw["sleeves"].append({"pair": NAME, "target": "0"})
    return Book.parse(raw)


@pytest.fixture
def fork(world: World) -> ForkPair:
    return add_fork_pair(world.node.url, world.book, "LINK", "USDC", 2_000_000, Fraction(1, 200))


def test_a_book_mixing_a_20_bps_pair_with_30_bps_pairs_executes_exactly(world: World, fork: ForkPair) -> None:
    book = mixed_book(fork)
    assert book.fee_bps(NAME) == 20 and book.fee_bps("WETH/USDC") == 30
    view = view_of(world, book)
    targets = {s.label: s.target for s in view.sleeves}
    # the fork's pair takes a tenth of the book: LINK bought through it with USDC, and LP minted
    targets[NAME] = Fraction(1, 10)
    targets["USDC"] -= Fraction(1, 10)
    plan = plan_rebalance(view, targets)
    swaps = [p.op for p in plan.ops if isinstance(p.op, Swap) and p.op.pair == fork.pair]
    assert swaps, [p.purpose for p in plan.ops]
    check_plan_on_chain(world, plan)  # simulated and executed: balances, LP and pair states to the wei


def test_a_book_whose_fee_for_a_pair_is_not_the_vaults_is_refused(world: World, fork: ForkPair) -> None:
    book = mixed_book(fork, fee_bps=30)

    async def check() -> None:
        async with rpc.connect(world.node.url, book=book) as w3:
            await checked_chain(w3, book)

    expected = r"pair LINK/USDC: the vault swaps it with a 20 bps fee, the book says 30"
    with pytest.raises(BadInput, match=expected):
        asyncio.run(check())
