"""The backtest's simulation on a made-up book (no chain): its baselines, its accounting, and that
it runs the keeper's own decision unchanged."""

from __future__ import annotations

import collections
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.amm import lp_share_amounts
from bot.core.backtest import Backtest, PricePath, Result, Settings, Tick
from bot.core.book import Book
from bot.core.snapshot import Snapshot
from bot.core.strategy import Decision, Hold
from bot.core.valuation import BookView
from bot.core.vault_guards import CUMULATIVE_BITS, CUMULATIVE_MASK, VaultGuards, price0_now
from bot.keeper.backtest_jobs import start_prices
from strategies import build
from tests.unit.views import TIMESTAMP, make_book, make_snapshot

SLEEVES = [
    {"pair": "WETH/USDC", "target": 0.4},
    {"pair": "DAI/USDC", "target": 0.2},
    {"token": "WETH", "target": 0.2},
    {"token": "USDC", "target": 0.2},
]
VALUES = {"WETH/USDC": 40_000, "DAI/USDC": 20_000, "WETH": 21_000, "USDC": 19_000}
STEP_S = 60
GWEI = 10**9


class Never:
    """A policy that never trades."""

    def decide(self, view: BookView) -> Decision:
        return Hold("never")


@dataclass(frozen=True, slots=True)
class Unmarked:
    """The threshold strategy without its `book_only` mark: evaluated on every block."""

    def decide(self, view: BookView) -> Decision:
        return build(view.book).decide(view)


def book(**policy: Any) -> Book:
    return make_book(SLEEVES, policy={"band": 0.05, "deadband": 0.002, **policy})


def start(b: Book, values: dict[str, int] | None = None) -> Snapshot:
    return make_snapshot(b, values or VALUES, weth_price=3000)


def path(b: Book, s: Snapshot, weth: Sequence[float], gas_gwei: float = 20) -> tuple[PricePath, list[Tick]]:
    """A path moving WETH by the given multipliers, one per minute (the others stay)."""
    tokens, prices, _ = start_prices(b, s)
    weth_i = tokens.index(b.tokens["WETH"].address)
    ticks = []
    for n, move in enumerate(weth):
        now = list(prices)
        now[weth_i] = prices[weth_i] * move
        ticks.append(Tick(TIMESTAMP + n * STEP_S, int(gas_gwei * GWEI), tuple(now)))
    return PricePath("test", tokens, ticks, STEP_S, len(ticks)), ticks


def walk(steps: int, seed: int = 3, vol: float = 0.004) -> list[float]:
    rng = random.Random(seed)
    out, x = [], 0.0
    for _ in range(steps):
        out.append(math.exp(x))
        x += rng.gauss(0, vol)
    return out


def run(b: Book, s: Snapshot, p: PricePath, strategy: Any = None, **settings: Any) -> Result:
    settings.setdefault("samples", 10**6)  # every step
    return Backtest(b, s, p, strategy or build(b), Settings(**settings)).run()


def test_a_policy_that_never_trades_is_the_lp_never_rebalanced_exactly() -> None:
    b = book()
    s = start(b)
    p, _ = path(b, s, walk(600))
    result = run(b, s, p, Never(), noise_volume=2.0, seed=5)
    assert result.rebalances == [] and result.gas_wei == 0
    assert result.series.policy == result.series.lp
    assert result.final["policy"] == result.final["lp"]
    assert result.fees["policy"] == result.fees["lp"] > 0
    assert result.lvr["policy"] == result.lvr["lp"] > 0
    assert result.series.il_policy == result.series.il_lp
    assert result.final["lp"] != result.final["hold"]


def test_holding_is_the_start_tokens_valued_at_each_step() -> None:
    b = book()
    s = start(b)
    p, ticks = path(b, s, walk(400, seed=9))
    result = run(b, s, p, noise_volume=1.0)
    amounts = dict(s.balances)
    for pair in s.pairs:
        a0, a1 = lp_share_amounts(pair.holder_lp, pair.reserve0, pair.reserve1, pair.total_supply)
        amounts[pair.token0.address] += a0
        amounts[pair.token1.address] += a1
    by_time = {t.timestamp: t for t in ticks}
    for timestamp, hold in zip(result.series.timestamp, result.series.hold, strict=True):
        tick = by_time[timestamp]
        expected = sum(
            n * tick.prices[p.tokens.index(a)] / 10 ** s.tokens[a].decimals for a, n in amounts.items()
        )
        assert math.isclose(hold, expected, rel_tol=1e-12)


def test_nothing_accrues_where_nothing_trades() -> None:
    b = book()
    s = start(b)
    p, _ = path(b, s, [1.0] * 300)
    result = run(b, s, p, Never())
    assert result.fees == {"policy": 0.0, "lp": 0.0} and result.lvr == {"policy": 0.0, "lp": 0.0}
    assert len(set(result.series.policy)) == 1 and result.series.policy == result.series.hold
    # uninformed volume at a fixed price: the LP earns fees and ends above holding
    noisy = run(b, s, path(b, s, [1.0] * 300)[0], Never(), noise_volume=3.0, seed=1)
    assert noisy.fees["lp"] > 0 and noisy.final["lp"] > noisy.final["hold"]
    assert len(set(noisy.series.hold)) == 1


def test_value_moves_only_in_steps_where_something_trades() -> None:
    """At a fixed price, the policy's value changes only when its bundle lands and when the
    arbitrageur then trades the pools back: and by no more than the plan's own costs."""
    b = book(max_cost_bps=500)
    s = start(b, {"WETH/USDC": 30_000, "DAI/USDC": 20_000, "WETH": 30_000, "USDC": 20_000})
    p, _ = path(b, s, [1.0] * 200)
    result = run(b, s, p)
    assert len(result.rebalances) == 1
    landed = result.rebalances[0]
    values = result.series.policy
    changed = [i for i in range(1, len(values)) if values[i] != values[i - 1]]
    step = result.series.block.index(landed.block)
    assert changed and set(changed) <= {step, step + 1}
    lost = values[0] - values[-1]
    assert 0 < lost <= landed.cost * 1.05


def test_quiet_blocks_reuse_the_hold_and_change_nothing() -> None:
    """Reusing a hold where no amount or reserve changed gives the same run as evaluating every block."""
    b = book(band=0.01, benefit_bps=1000, max_cost_bps=500)
    s = start(b)
    p1, _ = path(b, s, walk(900, seed=4, vol=0.004))
    p2, _ = path(b, s, walk(900, seed=4, vol=0.004))
    fast = run(b, s, p1)
    slow = run(b, s, p2, Unmarked())
    assert fast.rebalances and [r.block for r in fast.rebalances] == [r.block for r in slow.rebalances]
    assert [r.ops for r in fast.rebalances] == [r.ops for r in slow.rebalances]
    assert fast.series.policy == slow.series.policy and fast.final == slow.final
    assert fast.refusals == slow.refusals


def test_a_bundle_pays_its_gas_at_its_blocks_base_fee_plus_tip() -> None:
    b = book()
    s = start(b, {"WETH/USDC": 30_000, "DAI/USDC": 20_000, "WETH": 30_000, "USDC": 20_000})
    p, ticks = path(b, s, [1.0] * 100, gas_gwei=37)
    result = run(b, s, p, tip_wei=2 * GWEI)
    (landed,) = result.rebalances
    assert landed.gas_wei == landed.gas_units * 39 * GWEI
    weth = ticks[0].prices[p.tokens.index(b.tokens["WETH"].address)]
    assert math.isclose(landed.gas_value, landed.gas_wei / 1e18 * weth)
    assert landed.block == landed.decided_block + 1
    # the TWAP window (30 min, observed every 3 min) must exist before the guard lets a bundle through
    assert result.refusals["twap_deviation"] > 0
    assert landed.decided_block - s.block_number >= 30


def test_an_adversary_takes_its_share_of_the_floors_slack_and_no_more() -> None:
    b = book()
    s = start(b, {"WETH/USDC": 30_000, "DAI/USDC": 20_000, "WETH": 30_000, "USDC": 20_000})
    clean = run(b, s, path(b, s, [1.0] * 100)[0])
    robbed = run(b, s, path(b, s, [1.0] * 100)[0], adversary=1.0)
    taken = robbed.rebalances[0].adversary_value
    assert taken > 0 and robbed.adversary_value == taken
    assert math.isclose(clean.final["policy"] - robbed.final["policy"], taken, rel_tol=0.02)
    # the floors bound the loss to slippage_bps of the value traded (the book's 50 bps)
    assert taken <= robbed.rebalances[0].traded_value * 50 / 10_000 * 1.001


def test_the_vaults_own_guards_space_the_bundles_and_the_keeper_pokes() -> None:
    """A guarded vault (a 10 min TWAP within 1%, two hours between bundles, two a day): the policy
    rebalances no faster than the vault lets it, and pokes to keep the TWAP guard usable."""
    b = book(band=0.01, benefit_bps=1000, max_cost_bps=500)
    s = start(b)
    # each pair observed 11 minutes before the start, at its price then (the start's)
    observations = {}
    for pair in s.pairs:
        spot, now = price0_now(pair, s.block_timestamp)
        then = now - spot * 660
        word = (then & CUMULATIVE_MASK) | ((s.block_timestamp - 660) << CUMULATIVE_BITS)
        observations[pair.address] = (word, word)
    vault = VaultGuards(100, 600, 7200, 2, observations=observations)
    free = Backtest(b, s, path(b, s, walk(2_000, seed=4, vol=0.006))[0], build(b), Settings(samples=10)).run()
    guarded = Backtest(
        b, s, path(b, s, walk(2_000, seed=4, vol=0.006))[0], build(b), Settings(samples=10), vault=vault
    ).run()
    times = [r.timestamp for r in guarded.rebalances]
    assert len(free.rebalances) > len(times) >= 2
    assert all(later - earlier >= 7200 for earlier, later in itertools.pairwise(times))
    per_day = collections.Counter(t // 86_400 for t in times)
    assert max(per_day.values()) <= 2
    assert guarded.refusals["vault_guard"] > 0 and guarded.pokes > 0
    assert guarded.gas_wei > sum(r.gas_wei for r in guarded.rebalances)  # the pokes paid gas too
