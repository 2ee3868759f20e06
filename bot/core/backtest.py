"""The backtest: the book's pools, an arbitrageur, and the keeper's own decision at each evaluation. Pure.

Per step of a price path (one block):

1. A bundle decided at the block before lands first, exactly as planned (its plan's post-state:
   the planner's prediction is what the vault does, to the wei, and nothing traded in between). It
   pays the gas model's units at this block's base fee plus the tip, and optionally loses an
   adversary's take: a share of what its floors let it lose.
2. The market: uninformed traders (optional), then the arbitrageur trades every pool to the path's
   prices whenever the gap beats the fee (`bot.core.arbitrage`). LP fees accrue in the reserves as
   on chain; the price cumulatives advance as the pair's `_update` does.
3. When the book's `evaluate` schedule is due, the keeper's own code decides on the snapshot of this
   block: `value_book`, the book's strategy, the planner and the cost gate (`decide`), then the
   guards (`check_plan`), with the TWAP window from observations taken every tenth of the window
   (as the keeper journals them). Nothing here reimplements a rule.

Amounts, decisions and pool states are exact integers (the decision's own Fractions where it uses
them). What is only reported (values at the path's prices, fees and LVR accrued, drawdown, Sharpe)
is float. Two baselines ride along on the same pools: holding the start tokens, and the start LP
and idle tokens never rebalanced.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from bot.core.amm import MINIMUM_LIQUIDITY, PairState, lp_share_amounts
from bot.core.arbitrage import arbitrage
from bot.core.baselines import held_underlying
from bot.core.book import Book, Moment, Schedule
from bot.core.decision import Rebalance, decide
from bot.core.entries import LpMove, lp_moves
from bot.core.gas_model import GasModel
from bot.core.guards import Spending, check_plan, check_spending
from bot.core.planner import Plan, PlannedOp, poke_gas
from bot.core.snapshot import PairSnapshot, Snapshot
from bot.core.strategy import Strategy, book_only
from bot.core.valuation import History, Observation, observe, value_book
from bot.core.vault_guards import VaultGuards, price0_now

Q112 = 2**112
UINT256 = 2**256
UINT32 = 2**32
BPS = 10_000
WEI = 10**18
SECONDS_PER_DAY = 86_400
SECONDS_PER_YEAR = 365 * SECONDS_PER_DAY
UNLIMITED_WEI = 10**30


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """What one recorded call did to a pair (`bot.core.chain_history`): the reserves it found and
    left, its amounts, and whether the book's own vault made it.

    Attributes:
        kind: swap, mint, burn, or sync (reserves set by `sync()` alone: a donation).
        amount0_in / amount1_in: a swap's inputs, or a mint's deposits.
        amount0_out / amount1_out: a swap's outputs, or what a burn paid out.
        liquidity: the LP a burn destroyed.
    """

    pair: str
    kind: str
    own: bool
    before: tuple[int, int]
    after: tuple[int, int]
    amount0_in: int = 0
    amount1_in: int = 0
    amount0_out: int = 0
    amount1_out: int = 0
    liquidity: int = 0


@dataclass(frozen=True, slots=True)
class Tick:
    """One block of a price path: its time, its base fee, and each token's price.

    Attributes:
        prices: numeraire per whole token, in the order of the path's `tokens`.
        events: a recorded block's calls to the pairs, replayed in place of uninformed traders.
        pool_prices: (pair, token1, token0) per pair: the arbitrageur's target, where the path
            gives one per pool (a recorded block's reserves at its end) instead of token prices.
        block: the recorded block's number (else the previous one plus one).
    """

    timestamp: int
    base_fee_wei: int
    prices: tuple[float, ...]
    events: tuple[PoolEvent, ...] | None = None
    pool_prices: tuple[tuple[str, int, int], ...] | None = None
    block: int | None = None


@dataclass(frozen=True, slots=True)
class PricePath:
    """Where a backtest's market goes: token addresses, and the ticks (a generator is fine).

    Attributes:
        name: what it is (a scenario and its parameters, a file, a block range).
        step_s: seconds per tick (the blocks' spacing).
        steps: how many ticks there are, when known (for progress and annualizing).
        observations: price observations from before the path, by timestamp (a recorded history's
            TWAP window at its start, as the keeper would read it from its node).
    """

    name: str
    tokens: tuple[str, ...]
    ticks: Iterable[Tick]
    step_s: int
    steps: int | None = None
    observations: tuple[tuple[int, Mapping[str, Observation]], ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """How the simulated market behaves around the book.

    Attributes:
        noise_volume: uninformed volume per day, as a share of each pool's value (0: none).
        seed: the uninformed traders' seed.
        adversary: the share (0 to 1) of each bundle's loss tolerance (its floors) an adversary takes.
        tip_wei: the tip a bundle pays per gas (default: the book's min_tip_gwei).
        paid_after: a rebalance "paid" when, this many steps later, the book is worth more than
            the holdings it replaced would be (net of the gas paid since).
        samples: about how many points the series keep (values, weights, fees, IL, gas).
        keeper_balance_wei: the keeper's native balance for the balance guard (default: plenty).
    """

    noise_volume: float = 0.0
    seed: int = 0
    adversary: float = 0.0
    tip_wei: int | None = None
    paid_after: int = 1_440
    samples: int = 2_000
    keeper_balance_wei: int = UNLIMITED_WEI


@dataclass(slots=True)
class Portfolio:
    """Token balances and LP, by address."""

    balances: dict[str, int]
    lp: dict[str, int]

    def copy(self) -> Portfolio:
        return Portfolio(dict(self.balances), dict(self.lp))


@dataclass(frozen=True, slots=True)
class RebalanceRecord:
    """One executed rebalance: when, what, what it cost and whether it paid.

    Attributes:
        block / timestamp: the block it landed in (the block after the decision).
        cost: the plan's total cost (fees, impact, gas, upkeep) in the numeraire, as the gate saw it.
        benefit: the expected benefit the gate weighed it against.
        gas_wei / gas_value: what the bundle paid at its block's base fee plus tip, and its value.
        paid: value of the book `paid_after` steps later minus that of the holdings it replaced
            (net of gas since); None when the path ended first.
    """

    decided_block: int
    block: int
    timestamp: int
    reason: str
    ops: tuple[PlannedOp, ...]
    traded_value: float
    cost: float
    benefit: float
    gas_units: int
    gas_wei: int
    gas_value: float
    adversary_value: float
    value_before: float
    paid: float | None = None


@dataclass(slots=True)
class Series:
    """Sampled points of the run, for charts and the per-step CSV (floats: reporting only)."""

    timestamp: list[int] = field(default_factory=list)
    block: list[int] = field(default_factory=list)
    policy: list[float] = field(default_factory=list)
    hold: list[float] = field(default_factory=list)
    lp: list[float] = field(default_factory=list)
    fees_policy: list[float] = field(default_factory=list)
    fees_lp: list[float] = field(default_factory=list)
    lvr_policy: list[float] = field(default_factory=list)
    lvr_lp: list[float] = field(default_factory=list)
    gas: list[float] = field(default_factory=list)
    il_policy: list[float] = field(default_factory=list)
    il_lp: list[float] = field(default_factory=list)
    tracking: list[float] = field(default_factory=list)
    base_fee_gwei: list[float] = field(default_factory=list)
    weights: dict[str, list[float]] = field(default_factory=dict)


@dataclass(slots=True)
class Returns:
    """Running statistics of a value series: drawdown, and log returns per step."""

    peak: float = 0.0
    max_drawdown: float = 0.0
    last: float = 0.0
    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, value: float) -> None:
        if value <= 0:
            self.max_drawdown = 1.0
            self.last = value
            return
        if self.last > 0:
            r = math.log(value / self.last)
            self.count += 1
            self.total += r
            self.squares += r * r
        self.last = value
        self.peak = max(self.peak, value)
        self.max_drawdown = max(self.max_drawdown, 1 - value / self.peak)

    def volatility(self, steps_per_year: float) -> float:
        """Annualized standard deviation of the step log returns."""
        if self.count < 2:
            return 0.0
        mean = self.total / self.count
        variance = max(0.0, self.squares / self.count - mean * mean)
        return math.sqrt(variance * steps_per_year)

    def sharpe(self, steps_per_year: float) -> float:
        """Annualized mean over standard deviation of the step log returns (no risk-free rate)."""
        vol = self.volatility(steps_per_year)
        if vol == 0:
            return 0.0
        return self.total / self.count * steps_per_year / vol


@dataclass(slots=True)
class Result:
    """What a backtest found: the three portfolios' paths, the rebalances, the refusals."""

    book: str
    path: str
    strategy: str
    steps: int
    evaluations: int
    start_timestamp: int
    end_timestamp: int
    start_block: int
    end_block: int
    start_value: float
    series: Series
    rebalances: list[RebalanceRecord]
    refusals: Counter[str]
    holds: Counter[str]
    final: dict[str, float]
    fees: dict[str, float]
    lvr: dict[str, float]
    il: dict[str, float]
    gas_wei: int
    gas_value: float
    adversary_value: float
    turnover_value: float
    tracking_error: float
    returns: dict[str, Returns]
    step_s: int
    numeraire: str = ""
    pokes: int = 0
    poke_gas_wei: int = 0
    weights_final: dict[str, float] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    bands: dict[str, float] = field(default_factory=dict)


# --- the pools -------------------------------------------------------------------------------


class _Pool:
    """One pair of the book, mutable: its exact state, price cumulatives and where its tokens sit."""

    __slots__ = ("address", "c0", "c1", "changed", "d0", "d1", "i0", "i1", "snapshot", "state", "ts")

    def __init__(self, pair: PairSnapshot, fee_bps: int, index: Mapping[str, int]) -> None:
        self.address = pair.address
        self.snapshot = pair
        self.state = pair.state(fee_bps)
        self.ts = pair.block_timestamp_last
        self.c0 = pair.price0_cumulative_last
        self.c1 = pair.price1_cumulative_last
        self.i0 = index[pair.token0.address]
        self.i1 = index[pair.token1.address]
        self.d0 = 10**pair.token0.decimals
        self.d1 = 10**pair.token1.decimals
        self.changed = False  # since the book was last evaluated

    def set(self, state: PairState, timestamp: int) -> None:
        """UniswapV2Pair._update: the cumulatives advance at the old reserves, then the new ones."""
        elapsed = (timestamp - self.ts) % UINT32
        if elapsed and self.state.reserve0 and self.state.reserve1:
            r0, r1 = self.state.reserve0, self.state.reserve1
            self.c0 = (self.c0 + (r1 * Q112 // r0) * elapsed) % UINT256
            self.c1 = (self.c1 + (r0 * Q112 // r1) * elapsed) % UINT256
        self.ts = timestamp % UINT32
        self.state = state
        self.changed = True

    def read(self, holder_lp: int) -> PairSnapshot:
        s, p = self.state, self.snapshot
        return PairSnapshot(
            address=p.address,
            factory=p.factory,
            fee_to=p.fee_to,
            token0=p.token0,
            token1=p.token1,
            reserve0=s.reserve0,
            reserve1=s.reserve1,
            total_supply=s.total_supply,
            k_last=s.k_last,
            block_timestamp_last=self.ts,
            price0_cumulative_last=self.c0,
            price1_cumulative_last=self.c1,
            holder_lp=holder_lp,
        )


def _ratio(prices: Sequence[tuple[int, int]], pool: _Pool) -> tuple[int, int]:
    """The path's price of the pool's token0 in token1, base units, as an exact integer ratio."""
    n0, m0 = prices[pool.i0]
    n1, m1 = prices[pool.i1]
    return n0 * m1 * pool.d1, m0 * n1 * pool.d0


# --- the run -----------------------------------------------------------------------------------


class Backtest:
    """One policy over one path; `run()` steps it to the end and returns the `Result`.

    Args:
        book: the book (its strategy is `strategy` unless given).
        start: the book read at the path's first block (pools, balances, LP).
        path: the market.
        strategy: the policy (default: the book's own, built by the caller).
        label: the policy's name in reports.
        observer: called with (step index, steps or None) now and then (progress).
        vault: the vault's guards and observations at the start (default: a vault without guards).
    """

    def __init__(
        self,
        book: Book,
        start: Snapshot,
        path: PricePath,
        strategy: Strategy,
        settings: Settings | None = None,
        label: str = "policy",
        observer: Callable[[int, int | None], None] | None = None,
        vault: VaultGuards | None = None,
    ) -> None:
        self.book, self.start, self.path, self.strategy = book, start, path, strategy
        # the vault's own guards (cooldown, daily cap, spot against its TWAP) and observations, as
        # read at the start; they follow every bundle and poke
        self.vault = vault or VaultGuards()
        self.gas_model = GasModel()
        self.pending_poke: list[str] | None = None
        self.pokes = 0
        self.poke_gas_wei = 0
        self.settings = settings or Settings()
        self.label = label
        self.observer = observer
        self.index = {address: i for i, address in enumerate(path.tokens)}
        missing = [t.address for t in start.tokens.values() if t.address not in self.index]
        book_tokens = {c.address for c in book.tokens.values()}
        if any(address in book_tokens for address in missing):
            raise ValueError(f"the path has no price for {', '.join(a for a in missing if a in book_tokens)}")
        self.decimals = [10 ** start.tokens[a].decimals if a in start.tokens else 1 for a in path.tokens]
        self.pools = [_Pool(p, book.fee_bps(p.address), self.index) for p in start.pairs]
        self.by_address = {pool.address: pool for pool in self.pools}
        self.policy = Portfolio(
            {a: start.balances.get(a, 0) for a in start.tokens}, {p.address: p.holder_lp for p in start.pairs}
        )
        self.lp_baseline = self.policy.copy()
        self.hold = Portfolio(held_underlying(start), {})
        self.schedule = Schedule.parse(book.policy.evaluate)
        self.native = book.tokens[book.dex.native].address
        self.tip_wei = self.settings.tip_wei if self.settings.tip_wei is not None else book.fees.min_tip_wei
        self.rng = random.Random(self.settings.seed)
        self.window_s = book.prices.twap_window_s
        self.observations: deque[tuple[int, Mapping[str, Observation]]] = deque(path.observations)
        self.observed_at: int | None = None
        self.moves: list[LpMove] = []
        self.history = History()
        self.pending: tuple[int, Plan, str] | None = None
        self.rebalances: list[RebalanceRecord] = []
        self.awaiting: deque[tuple[int, int, Portfolio, float]] = deque()  # (record, due step, before, gas)
        self.refusals: Counter[str] = Counter()
        self.holds: Counter[str] = Counter()
        self.fees = {"policy": 0.0, "lp": 0.0}
        self.lvr = {"policy": 0.0, "lp": 0.0}
        self.gas_wei = 0
        self.gas_value = 0.0
        self.adversary_value = 0.0
        self.turnover = 0.0
        self.spent_by_day: dict[int, int] = {}
        self.returns = {"policy": Returns(), "hold": Returns(), "lp": Returns()}
        self.series = Series()
        self.tracking_area = 0.0
        self.targets = {s.label: float(s.target) for s in book.sleeves}
        # (label, pair address or token address, the token's index or -1 for a pair) of each sleeve
        self.sleeve_keys: list[tuple[str, str, int]] = []
        for sleeve in book.sleeves:
            if sleeve.pair is not None:
                self.sleeve_keys.append((sleeve.label, book.pairs[sleeve.pair], -1))
            else:
                address = book.tokens[sleeve.token or ""].address
                self.sleeve_keys.append((sleeve.label, address, self.index[address]))
        self.evaluations = 0
        # a strategy that reads only amounts and reserves holds again where neither changed
        self.reuse_hold = book_only(strategy)
        self.held = False  # the last evaluation was the strategy's own hold
        self.landed = False  # a bundle landed since
        self.block = start.block_number
        self.timestamp = start.block_timestamp
        self.base_fee = start.base_fee_wei

    # --- values (reporting: floats at the path's prices) ---------------------------------------

    def _units(self, prices: Sequence[float]) -> list[float]:
        return [p / d for p, d in zip(prices, self.decimals, strict=True)]

    def _lp_units(self, units: Sequence[float]) -> dict[str, float]:
        out = {}
        for pool in self.pools:
            s = pool.state
            out[pool.address] = (s.reserve0 * units[pool.i0] + s.reserve1 * units[pool.i1]) / s.total_supply
        return out

    def _worth(self, holdings: Portfolio, units: Sequence[float], lp_units: Mapping[str, float]) -> float:
        index = self.index
        value = 0.0
        for a, n in holdings.balances.items():
            if n:
                value += n * units[index[a]]
        for a, n in holdings.lp.items():
            if n:
                value += n * lp_units[a]
        return value

    def _sleeve_values(self, units: Sequence[float], lp_units: Mapping[str, float]) -> dict[str, float]:
        lp, balances = self.policy.lp, self.policy.balances
        out = {}
        for label, address, i in self.sleeve_keys:
            if i < 0:
                out[label] = lp.get(address, 0) * lp_units[address]
            else:
                out[label] = balances.get(address, 0) * units[i]
        return out

    # --- the market --------------------------------------------------------------------------

    def _accrue(
        self, pool: _Pool, amount_in: int, zero_for_one: bool, out: int, units: Sequence[float]
    ) -> None:
        """LP fees and loss-versus-rebalancing of one swap, pro rata to the LP each portfolio holds."""
        supply = pool.state.total_supply
        if zero_for_one:
            unit_in, unit_out = units[pool.i0], units[pool.i1]
        else:
            unit_in, unit_out = units[pool.i1], units[pool.i0]
        fee = amount_in * pool.state.fee_bps / BPS * unit_in
        loss = out * unit_out - (amount_in * unit_in - fee)  # what the pool gave beyond the price
        for name, holdings in (("policy", self.policy), ("lp", self.lp_baseline)):
            share = holdings.lp.get(pool.address, 0) / supply
            if share:
                self.fees[name] += fee * share
                self.lvr[name] += max(0.0, loss) * share

    def _noise(self, timestamp: int, units: Sequence[float]) -> None:
        volume = self.settings.noise_volume
        if volume <= 0:
            return
        per_step = volume * self.path.step_s / SECONDS_PER_DAY
        for pool in self.pools:
            if self.rng.random() >= 0.5:  # a trade in half the blocks, each twice the mean size
                continue
            zero_for_one = self.rng.random() < 0.5
            reserve_in = pool.state.reserve0 if zero_for_one else pool.state.reserve1
            # half the pool's value sits on each side: a share s of the pool's value is 2s of a reserve
            amount = int(reserve_in * 2 * per_step * 2 * self.rng.uniform(0.5, 1.5))
            if amount <= 0 or pool.state.amount_out(amount, zero_for_one) <= 0:
                continue
            out, after = pool.state.after_swap(amount, zero_for_one)
            self._accrue(pool, amount, zero_for_one, out, units)
            pool.set(after, timestamp)

    def _arbitrage(self, ratios: Sequence[tuple[int, int]], timestamp: int, units: Sequence[float]) -> None:
        for pool in self.pools:
            num, den = _ratio(ratios, pool)
            trade = arbitrage(pool.state, num, den)
            if trade is None:
                continue
            self._accrue(pool, trade.amount_in, trade.zero_for_one, trade.amount_out, units)
            pool.set(trade.state, timestamp)

    def _arbitrage_pools(
        self, targets: Sequence[tuple[str, int, int]], timestamp: int, units: Sequence[float]
    ) -> None:
        for address, num, den in targets:
            pool = self.by_address[address]
            trade = arbitrage(pool.state, num, den)
            if trade is None:
                continue
            self._accrue(pool, trade.amount_in, trade.zero_for_one, trade.amount_out, units)
            pool.set(trade.state, timestamp)

    def _replay(self, events: Sequence[PoolEvent], timestamp: int, units: Sequence[float]) -> None:
        """Everyone else's recorded calls (the vault's own are the policy's to make): exactly as
        recorded while a pool is where the chain's was, else the same trade on the simulated pool."""
        for event in events:
            if event.own:
                continue
            pool = self.by_address[event.pair]
            state = pool.state
            in_step = (state.reserve0, state.reserve1) == event.before
            if event.kind == "swap":
                zero_for_one = event.amount0_in >= event.amount1_in
                amount_in = event.amount0_in if zero_for_one else event.amount1_in
                if in_step:
                    out = event.amount1_out if zero_for_one else event.amount0_out
                    after = replace(state, reserve0=event.after[0], reserve1=event.after[1])
                else:
                    if amount_in <= 0 or state.amount_out(amount_in, zero_for_one) <= 0:
                        continue
                    out, after = state.after_swap(amount_in, zero_for_one)
                self._accrue(pool, amount_in, zero_for_one, out, units)
            elif event.kind == "mint":
                if event.amount0_in <= 0 or event.amount1_in <= 0:
                    continue
                after = state.after_mint(event.amount0_in, event.amount1_in).state
            elif event.kind == "burn":
                ours = self.policy.lp.get(event.pair, 0) + MINIMUM_LIQUIDITY
                liquidity = min(event.liquidity, state.total_supply - ours)
                if liquidity <= 0:
                    continue
                after = state.after_burn(liquidity).state
            elif in_step:  # a sync: reserves set to the balances (a donation)
                after = replace(state, reserve0=event.after[0], reserve1=event.after[1])
            else:
                r0 = max(1, state.reserve0 + event.after[0] - event.before[0])
                r1 = max(1, state.reserve1 + event.after[1] - event.before[1])
                after = replace(state, reserve0=r0, reserve1=r1)
            pool.set(after, timestamp)

    # --- the bundle --------------------------------------------------------------------------

    def _land(self, step: int, tick: Tick, units: Sequence[float], lp_units: Mapping[str, float]) -> None:
        """The bundle decided at the block before lands first in this one, as planned."""
        assert self.pending is not None
        decided, plan, reason = self.pending
        self.pending = None
        self.landed = True
        before = self.policy.copy()
        value_before = self._worth(before, units, lp_units)
        touched = {o.op.pair for o in plan.ops}
        if self.vault.priced:  # each touched pair's observation, as the bundle finds it
            for address in sorted(touched):
                _, cumulative = price0_now(self.by_address[address].read(0), tick.timestamp)
                self.vault = self.vault.observed(address, cumulative, tick.timestamp)
        self.vault = self.vault.after_bundle(tick.timestamp)
        for pool in self.pools:
            after = plan.pairs.get(pool.address)
            if after is not None and after != pool.state:
                pool.set(after, tick.timestamp)
        self.policy.balances.update(plan.balances)
        self.policy.lp.update(plan.lp)
        taken = self._adversary(plan, units)
        gas_wei = plan.costs.gas_units * (tick.base_fee_wei + self.tip_wei)
        gas_value = self._pay_gas(gas_wei, tick)
        traded = float(plan.costs.traded_value)
        self.turnover += traded
        pairs = {p.address: (p.snapshot.token0.address, p.snapshot.token1.address) for p in self.pools}
        self.moves += lp_moves(
            [{"realized": {"spent": o.spent, "received": o.received}} for o in plan.ops], pairs
        )
        self.history = History(Moment(self.block, tick.timestamp), self.history.last_evaluation)
        self.rebalances.append(
            RebalanceRecord(
                decided_block=decided,
                block=self.block,
                timestamp=tick.timestamp,
                reason=reason,
                ops=plan.ops,
                traded_value=traded,
                cost=float(plan.costs.total),
                benefit=float(plan.costs.benefit),
                gas_units=plan.costs.gas_units,
                gas_wei=gas_wei,
                gas_value=gas_value,
                adversary_value=taken,
                value_before=value_before,
            )
        )
        self.awaiting.append(
            (len(self.rebalances) - 1, step + self.settings.paid_after, before, self.gas_value - gas_value)
        )

    def _adversary(self, plan: Plan, units: Sequence[float]) -> float:
        """An adversary (a sandwich) takes its share of each floor's slack: what the vault lets go."""
        share = self.settings.adversary
        if share <= 0:
            return 0.0
        taken = 0.0
        lp_units = self._lp_units(units)
        for floor in plan.floors:
            if floor.token in self.policy.balances:
                held = self.policy.balances[floor.token]
                take = int((held - floor.minimum) * share) if held > floor.minimum else 0
                self.policy.balances[floor.token] = held - take
                taken += take * units[self.index[floor.token]]
            elif floor.token in self.policy.lp:
                held = self.policy.lp[floor.token]
                take = int((held - floor.minimum) * share) if held > floor.minimum else 0
                self.policy.lp[floor.token] = held - take
                taken += take * lp_units[floor.token]
        self.adversary_value += taken
        return taken

    def _settle_paid(self, step: int, units: Sequence[float], lp_units: Mapping[str, float]) -> None:
        while self.awaiting and self.awaiting[0][1] <= step:
            index, _, before, gas_before = self.awaiting.popleft()
            now = self._worth(self.policy, units, lp_units) - (self.gas_value - gas_before)
            self.rebalances[index] = replace(
                self.rebalances[index], paid=now - self._worth(before, units, lp_units)
            )

    # --- the keeper's decision -----------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The book at the current block, as the lens would read it."""
        return Snapshot(
            block_number=self.block,
            block_timestamp=self.timestamp,
            base_fee_wei=self.base_fee,
            chain_id=self.start.chain_id,
            holder=self.start.holder,
            holder_native_wei=self.start.holder_native_wei,
            pairs=tuple(pool.read(self.policy.lp.get(pool.address, 0)) for pool in self.pools),
            tokens=self.start.tokens,
            balances=dict(self.policy.balances),
        )

    def _window(self) -> Mapping[str, Observation] | None:
        """The TWAP window's start from the observations kept (the keeper's `journaled_window` rule)."""
        start = self.timestamp - self.window_s
        found = None
        for at, observations in self.observations:
            if at > start:
                break
            found = (at, observations)
        if found is None or found[0] < start - self.window_s:
            return None
        return found[1]

    def _observe(self) -> None:
        """Every tenth of the TWAP window the keeper records each pair's cumulatives (heads it does
        not evaluate included); its window starts from those records."""
        if self.observed_at is not None and self.timestamp - self.observed_at < max(1, self.window_s // 10):
            return
        self.observations.append((self.timestamp, observe(self.snapshot())))
        self.observed_at = self.timestamp
        while self.observations and self.observations[0][0] < self.timestamp - 2 * self.window_s:
            self.observations.popleft()

    def _evaluate(self) -> None:
        now = Moment(self.block, self.timestamp)
        if not self.schedule.due(now, self.history.last_evaluation):
            return
        self.evaluations += 1
        history = self.history
        self.history = History(history.last_rebalance, now)
        changed = self.landed or any(pool.changed for pool in self.pools)
        if self.held and self.reuse_hold and not changed:
            self.holds["strategy"] += 1
            return
        for pool in self.pools:
            pool.changed = False
        self.landed = False
        view = value_book(
            self.book,
            self.snapshot(),
            history=history,
            window=self._window(),
            moves=self.moves,
            vault=self.vault,
        )
        decision = decide(view, self.strategy)
        self.held = decision.plan is None
        if not isinstance(decision, Rebalance) or not decision.plan.ops:
            self.holds["strategy" if decision.plan is None else "cost"] += 1
            return
        plan = decision.plan
        touched = [p for p in view.pairs.values() if p.address in {o.op.pair for o in plan.ops}]
        if view.vault.refusal(touched, self.timestamp) is not None or self._vault_refuses_after(
            plan, touched
        ):
            self.refusals["vault_guard"] += 1
            return
        fees = self.book.fees
        max_fee = self.base_fee * fees.headroom + self.tip_wei
        gas_limit = plan.costs.gas_units * (BPS + fees.gas_margin_bps) // BPS
        spending = Spending(
            next_base_fee=self.base_fee,
            gas_cost=gas_limit * max_fee,
            spent_today=self.spent_by_day.get(self.timestamp // SECONDS_PER_DAY, 0),  # since 00:00 UTC
            keeper_balance=self.settings.keeper_balance_wei,
        )
        refusal = check_plan(self.book.guards, plan, spot=view.prices, twap=view.twap, spending=spending)
        if refusal is not None:
            self.refusals[refusal.guard] += 1
            return
        self.pending = (self.block, plan, decision.reason)

    def _vault_refuses_after(self, plan: Plan, touched: Sequence[PairSnapshot]) -> bool:
        """The vault's check after the bundle (what the keeper's simulation at its block would
        find): each touched pair's spot then, against the TWAP with the bundle's own observation."""
        if not self.vault.priced:
            return False
        vault = self.vault
        after = []
        for pair in touched:
            _, cumulative = price0_now(pair, self.timestamp)
            vault = vault.observed(pair.address, cumulative, self.timestamp)
            state = plan.pairs[pair.address]
            after.append(
                replace(
                    pair,
                    reserve0=state.reserve0,
                    reserve1=state.reserve1,
                    price0_cumulative_last=cumulative,
                    block_timestamp_last=self.timestamp % UINT32,
                )
            )
        return any(vault.off_twap(pair, self.timestamp) for pair in after)

    def _poke_if_due(self) -> None:
        """On a block it sends no bundle, the keeper pokes the pairs whose vault observations would
        otherwise leave the guard unusable (`VaultGuards.pokes_due`), if its gas guards allow."""
        if not self.vault.priced or self.pending is not None or self.pending_poke is not None:
            return
        pairs = [pool.read(0) for pool in self.pools]
        due = [p.address for p in self.vault.pokes_due(pairs, self.timestamp)]
        if not due:
            return
        units = poke_gas(self.vault, due, self.gas_model)
        fees = self.book.fees
        spending = Spending(
            next_base_fee=self.base_fee,
            gas_cost=units * (self.base_fee * fees.headroom + self.tip_wei),
            spent_today=self.spent_by_day.get(self.timestamp // SECONDS_PER_DAY, 0),
            keeper_balance=self.settings.keeper_balance_wei,
        )
        if check_spending(self.book.guards, spending) is None:
            self.pending_poke = due

    def _land_poke(self, tick: Tick) -> None:
        """The poke sent at the block before lands first in this one: each pair's observation."""
        assert self.pending_poke is not None
        due, self.pending_poke = self.pending_poke, None
        units = poke_gas(self.vault, due, self.gas_model)
        for address in due:
            _, cumulative = price0_now(self.by_address[address].read(0), tick.timestamp)
            self.vault = self.vault.observed(address, cumulative, tick.timestamp)
        gas_wei = units * (tick.base_fee_wei + self.tip_wei)
        self.pokes += 1
        self.poke_gas_wei += gas_wei
        self._pay_gas(gas_wei, tick)

    def _pay_gas(self, gas_wei: int, tick: Tick) -> float:
        """Gas the keeper paid at this block, in wei and in value; the day's spending for the budget."""
        value = gas_wei / WEI * tick.prices[self.index[self.native]]
        self.gas_wei += gas_wei
        self.gas_value += value
        day = tick.timestamp // SECONDS_PER_DAY
        self.spent_by_day[day] = self.spent_by_day.get(day, 0) + gas_wei
        return value

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> Result:
        steps_hint = self.path.steps
        sample_every = max(1, (steps_hint or 100_000) // max(1, self.settings.samples))
        step = -1
        start_value = 0.0
        last_tracking = 0.0
        last_ts = self.start.block_timestamp
        first_ts = None
        for step, tick in enumerate(self.path.ticks):
            ratios = [p.as_integer_ratio() for p in tick.prices]
            units = self._units(tick.prices)
            if tick.block is not None:
                self.block = tick.block
            elif step:
                self.block += 1
            self.timestamp, self.base_fee = tick.timestamp, tick.base_fee_wei
            if first_ts is None:
                first_ts = tick.timestamp
                self.history = History()
            if self.pending is not None:
                self._land(step, tick, units, self._lp_units(units))
            if self.pending_poke is not None:
                self._land_poke(tick)
            if tick.events is not None:
                self._replay(tick.events, tick.timestamp, units)
            else:
                self._noise(tick.timestamp, units)
            if tick.pool_prices is not None:
                self._arbitrage_pools(tick.pool_prices, tick.timestamp, units)
            else:
                self._arbitrage(ratios, tick.timestamp, units)
            lp_units = self._lp_units(units)
            policy = self._worth(self.policy, units, lp_units) - self.gas_value
            hold = self._worth(self.hold, units, lp_units)
            lp = self._worth(self.lp_baseline, units, lp_units)
            if step == 0:
                start_value = hold
            self.returns["policy"].add(policy)
            self.returns["hold"].add(hold)
            self.returns["lp"].add(lp)
            sleeves = self._sleeve_values(units, lp_units)
            total = sum(sleeves.values())
            tracking = (
                sum(abs(v / total - self.targets[k]) for k, v in sleeves.items()) / 2 if total > 0 else 0.0
            )
            self.tracking_area += last_tracking * (tick.timestamp - last_ts)
            last_tracking, last_ts = tracking, tick.timestamp
            self._settle_paid(step, units, lp_units)
            if step % sample_every == 0:
                self._sample(tick, policy, hold, lp, tracking, sleeves, total)
            self._evaluate()
            self._poke_if_due()
            self._observe()
            if self.observer is not None and step % 10_000 == 0:
                self.observer(step, steps_hint)
        if step < 0:
            raise ValueError(f"the path {self.path.name} has no steps")
        if self.series.timestamp[-1] != self.timestamp:
            self._sample(tick, policy, hold, lp, tracking, sleeves, total)
        elapsed = self.timestamp - (first_ts or self.timestamp)
        return Result(
            book=self.book.name,
            path=self.path.name,
            strategy=self.label,
            steps=step + 1,
            evaluations=self.evaluations,
            start_timestamp=first_ts or self.timestamp,
            end_timestamp=self.timestamp,
            start_block=self.start.block_number,
            end_block=self.block,
            start_value=start_value,
            series=self.series,
            rebalances=self.rebalances,
            refusals=self.refusals,
            holds=self.holds,
            final={"policy": policy, "hold": hold, "lp": lp},
            fees=dict(self.fees),
            lvr=dict(self.lvr),
            il={"policy": self.series.il_policy[-1], "lp": self.series.il_lp[-1]},
            gas_wei=self.gas_wei,
            gas_value=self.gas_value,
            adversary_value=self.adversary_value,
            turnover_value=self.turnover,
            tracking_error=self.tracking_area / elapsed if elapsed else last_tracking,
            returns=self.returns,
            step_s=self.path.step_s,
            numeraire=self.book.numeraire,
            pokes=self.pokes,
            poke_gas_wei=self.poke_gas_wei,
            weights_final={k: v / total for k, v in sleeves.items()} if total else {},
            targets=self.targets,
            bands={s.label: float(self.book.band_width(s)) for s in self.book.sleeves},
        )

    def _sample(
        self, tick: Tick, policy: float, hold: float, lp: float, tracking: float,
        sleeves: Mapping[str, float], total: float,
    ) -> None:  # fmt: skip
        s = self.series
        s.timestamp.append(tick.timestamp)
        s.block.append(self.block)
        s.policy.append(policy)
        s.hold.append(hold)
        s.lp.append(lp)
        s.fees_policy.append(self.fees["policy"])
        s.fees_lp.append(self.fees["lp"])
        s.lvr_policy.append(self.lvr["policy"])
        s.lvr_lp.append(self.lvr["lp"])
        s.gas.append(self.gas_value)
        s.il_policy.append(self._il(self.policy, self.moves))
        s.il_lp.append(self._il(self.lp_baseline, ()))
        s.tracking.append(tracking)
        s.base_fee_gwei.append(tick.base_fee_wei / 1e9)
        for label, value in sleeves.items():
            s.weights.setdefault(label, []).append(value / total if total else 0.0)

    def _il(self, holdings: Portfolio, moves: Sequence[LpMove]) -> float:
        """Impermanent loss of the LP sleeves of `holdings`, as `value_book` computes it (its
        positions from the backtest's start, following `moves`), at the pools' prices."""
        snapshot = Snapshot(
            block_number=self.block,
            block_timestamp=self.timestamp,
            base_fee_wei=self.base_fee,
            chain_id=self.start.chain_id,
            holder=self.start.holder,
            holder_native_wei=0,
            pairs=tuple(pool.read(holdings.lp.get(pool.address, 0)) for pool in self.pools),
            tokens=self.start.tokens,
            balances=holdings.balances,
        )
        view = value_book(self._entry_book, snapshot, moves=moves)
        return float(sum((s.position.il_value for s in view.sleeves if s.position), Fraction(0)))

    @property
    def _entry_book(self) -> Book:
        """The book with each LP sleeve entered at the backtest's start (what it held then)."""
        cached: Book | None = getattr(self, "_entry_book_cache", None)
        if cached is None:
            cached = entered_at(self.book, self.start)
            self._entry_book_cache = cached
        return cached


def entered_at(book: Book, start: Snapshot) -> Book:
    """`book` with every LP sleeve's entry the amounts its LP held in `start` (IL from there)."""
    sleeves = []
    for sleeve in book.sleeves:
        if sleeve.pair is None:
            sleeves.append(sleeve)
            continue
        pair = start.pair(book.pairs[sleeve.pair])
        if pair.holder_lp == 0:
            sleeves.append(sleeve.model_copy(update={"entry": None, "entry_lp": None}))
            continue
        a0, a1 = lp_share_amounts(pair.holder_lp, pair.reserve0, pair.reserve1, pair.total_supply)
        symbol = {t.address: s for s, t in book.tokens.items()}
        entry = {
            symbol[pair.token0.address]: _decimal(a0, pair.token0.decimals),
            symbol[pair.token1.address]: _decimal(a1, pair.token1.decimals),
        }
        sleeves.append(sleeve.model_copy(update={"entry": entry, "entry_lp": _decimal(pair.holder_lp, 18)}))
    return book.model_copy(update={"sleeves": sleeves})


def _decimal(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)
