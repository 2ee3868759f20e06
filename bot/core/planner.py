"""From target weights to the cheapest exact plan: burns, netted and routed swaps, matched mints. Pure.

1. Each sleeve's trade is its target value minus its value; trades under the deadband or
   the minimum trade value are skipped, and what remains is scaled so sells equal buys.
2. Surplus LP is burned and surplus idle tokens are released; deficit sleeves demand
   tokens (an LP sleeve both of its pair's tokens, in the pair's ratio). Per token, what is
   released and what is demanded are netted first, so no token is both bought and sold.
3. Net surpluses cover net deficits, largest first, each along the route (direct or through
   the book's pairs, up to `max_hops`) with the best output at that moment.
4. Mints take the matched amounts. Swap fees make a bought side arrive short, so the plan
   is solved again with each LP sleeve's token split corrected by what arrived, until every
   mint's leftover is at most DUST_LIMIT of its value (a few passes).

Every op is simulated in order with the exact integer math of `bot.core.amm`, so reserves
carry over between ops that touch a pair twice; the prediction is what `execute` does.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from bot.core.amm import (
    InsufficientLiquidityBurned,
    InsufficientLiquidityMinted,
    PairState,
    matched_amounts,
    mint_liquidity,
    plan_zap,
)
from bot.core.errors import MathError
from bot.core.executor_ops import (
    MAX_OPS_BYTES,
    PADDING,
    Burn,
    Floor,
    Mint,
    Op,
    Swap,
    Trade,
    carried,
    encode_op,
    execute_calldata,
    poke_calldata,
)
from bot.core.gas_model import BundleShape, GasModel
from bot.core.valuation import BookView, SleeveView, value_book
from bot.core.vault_guards import VaultGuards

BPS = 10_000
DUST_LIMIT = 1e-6
MAX_PASSES = 24
STALE_PASSES = 4
WEI_PER_NATIVE = 10**18
ESTIMATE_BUNDLE_ID = b"\xff" * 32  # the costliest id for calldata gas; the real one is random


@dataclass(frozen=True, slots=True)
class PlannedOp:
    """One op of the bundle with what it is predicted to take from and give to the vault.

    Attributes:
        spent / received: amounts by token address (LP by pair address), predicted exactly.
        leg: for a swap, the (sold, bought) tokens of the route it is a hop of.
    """

    op: Trade
    purpose: str
    spent: Mapping[str, int]
    received: Mapping[str, int]
    leg: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Costs:
    """What a plan costs, in the numeraire at the snapshot's prices.

    Attributes:
        lp_fees: swap fees paid (fee_bps of every hop's input).
        price_impact: the rest of what swaps lose against spot (input value - output value - fee).
        own_lp_rebate: the part of fees and impact that comes back through the book's own LP.
        gas_units / gas_wei / gas: the bundle's gas, its price at the base fee, and its value.
        traded_value: the value taken out of sleeves over target (what is rebalanced).
        benefit: the expected benefit: misallocated value removed times the book's benefit_bps.
        upkeep_gas_units / upkeep: the pokes the bundle's pairs need on a guarded vault (their
            observations too old, or a TWAP lagging spot), in gas and in value; in `total`.
        tax: the tax on the gains the plan realizes (`[tax]`; negative: losses harvested); in `total`.
    """

    lp_fees: Fraction
    price_impact: Fraction
    own_lp_rebate: Fraction
    gas_units: int
    gas_wei: int
    gas: Fraction
    traded_value: Fraction
    benefit: Fraction
    upkeep_gas_units: int = 0
    upkeep: Fraction = Fraction(0)
    tax: Fraction = Fraction(0)

    @property
    def trading(self) -> Fraction:
        """Fees and impact net of what the book's own LP earns back."""
        return self.lp_fees + self.price_impact - self.own_lp_rebate

    @property
    def total(self) -> Fraction:
        return self.trading + self.gas + self.upkeep + self.tax

    @property
    def bps(self) -> Fraction:
        """What executing costs (all but the tax) in bps of the traded value: `max_cost_bps` bounds
        how the trade is made; the tax, a cost of trading at all, meets the benefit instead."""
        execution = self.total - self.tax
        return execution / self.traded_value * BPS if self.traded_value else Fraction(0)


@dataclass(frozen=True, slots=True)
class Plan:
    """The bundle and everything it is predicted to do.

    Attributes:
        balances: the vault's balance of every book token after the bundle.
        lp: the vault's LP in every book pair after.
        pairs: every book pair's state after.
        weights_after: sleeve weights after, valued at the post-bundle prices.
        dust: per minted sleeve, its mint's leftover value over the minted value: at most
            DUST_LIMIT, or `dust_floor` when one base unit of the coarsest token the plan trades
            is worth more than that (a small mint funded with WBTC).
        skipped: sleeves whose trade was under the deadband or the minimum trade value, or that
            wait for a later head because the bundle reached the vault's size limit.
        floors: the least the vault may hold of each token and LP the bundle touches after its
            last op, checked on-chain: together they bound the bundle's loss against this
            prediction to `slippage_bps` of the value traded (`loss_bound`), however per-op
            minimums compound.
    """

    ops: tuple[PlannedOp, ...]
    balances: Mapping[str, int]
    lp: Mapping[str, int]
    pairs: Mapping[str, PairState]
    targets: Mapping[str, Fraction]
    weights_before: Mapping[str, Fraction]
    weights_after: Mapping[str, Fraction]
    value_after: Fraction
    dust: Mapping[str, float]
    dust_floor: Mapping[str, float]
    skipped: tuple[str, ...]
    costs: Costs
    passes: int
    floors: tuple[Floor, ...] = ()
    loss_bound: Fraction = Fraction(0)  # the most value the floors let the bundle lose, numeraire

    @property
    def executor_ops(self) -> list[Op]:
        """The bundle as the vault runs it: the trades, then the floors."""
        return [*(planned.op for planned in self.ops), *self.floors]


@dataclass(frozen=True, slots=True)
class Hop:
    pair: str
    zero_for_one: bool
    token_in: str
    token_out: str


class _Sim:
    """The vault and the book's pairs, op by op, with the costs of every swap."""

    def __init__(self, view: BookView) -> None:
        self.states = {p.address: p.state(view.book.fee_bps(p.address)) for p in view.pairs.values()}
        self.tokens = {p.address: (p.token0.address, p.token1.address) for p in view.pairs.values()}
        self.balances = {t.address: view.snapshot.balances.get(t.address, 0) for t in view.tokens.values()}
        self.lp = {p.address: p.holder_lp for p in view.pairs.values()}
        self.unit = {a: p.value / 10 ** view.snapshot.tokens[a].decimals for a, p in view.prices.items()}
        # the heuristics (sizing, allocation) run on floats; amounts and costs stay exact
        self.unit_f = {a: float(u) for a, u in self.unit.items()}
        self.swaps: list[tuple[str, int, str, int, int, int, int]] = []
        self.ops: list[tuple[str, Op, str, dict[str, int], dict[str, int]]] = []
        self.legs: dict[int, tuple[str, str]] = {}  # op index -> (sold, bought) of its route
        self.dust_floor: dict[str, float] = {}  # minted sleeve -> its granularity floor
        self.matchable: set[int] = set()  # mints whose amounts the vault's ratio matching keeps

    def burn(self, pair: str, liquidity: int, purpose: str) -> tuple[int, int]:
        result = self.states[pair].after_burn(liquidity)
        self.states[pair] = result.state
        self.lp[pair] -= liquidity
        t0, t1 = self.tokens[pair]
        self.balances[t0] += result.amount0
        self.balances[t1] += result.amount1
        self.ops.append(
            (
                "burn",
                Burn(pair, liquidity, 0, 0),
                purpose,
                {pair: liquidity},
                {t0: result.amount0, t1: result.amount1},
            )
        )
        return result.amount0, result.amount1

    def swap(self, hop: Hop, amount_in: int, purpose: str, leg: tuple[str, str]) -> int:
        if self.balances[hop.token_in] < amount_in:
            raise MathError(
                f"swap of {amount_in} needs more than the vault holds ({self.balances[hop.token_in]})"
            )
        state = self.states[hop.pair]
        out, self.states[hop.pair] = state.after_swap(amount_in, hop.zero_for_one)
        self.legs[len(self.ops)] = leg
        self.balances[hop.token_in] -= amount_in
        self.balances[hop.token_out] += out
        record = (
            hop.token_in,
            amount_in,
            hop.token_out,
            out,
            state.fee_bps,
            self.lp[hop.pair],
            state.total_supply,
        )
        self.swaps.append(record)
        self.ops.append(
            (
                "swap",
                Swap(hop.pair, hop.zero_for_one, amount_in, 0),
                purpose,
                {hop.token_in: amount_in},
                {hop.token_out: out},
            )
        )
        return out

    def mint(self, pair: str, amount0: int, amount1: int, purpose: str) -> int:
        # the vault matches every mint to the pair's ratio (it never donates a side's excess)
        sent0, sent1 = matched_amounts(amount0, amount1, self.states[pair])
        if amount0 > 0 and amount1 > 0 and (sent0, sent1) == (amount0, amount1):
            # the matching leaves these amounts as they are: a carried side may use it
            self.matchable.add(len(self.ops))
        result = self.states[pair].after_mint(sent0, sent1)
        self.states[pair] = result.state
        t0, t1 = self.tokens[pair]
        self.balances[t0] -= sent0
        self.balances[t1] -= sent1
        self.lp[pair] += result.liquidity
        self.ops.append(
            (
                "mint",
                Mint(pair, amount0, amount1, 0),
                purpose,
                {t0: sent0, t1: sent1},
                {pair: result.liquidity},
            )
        )
        return result.liquidity

    def trading_costs(self) -> tuple[Fraction, Fraction, Fraction]:
        """(LP fees, price impact, own-LP rebate) of every swap, exact, at the snapshot's prices."""
        fees = impact = rebate = Fraction(0)
        for token_in, amount_in, token_out, out, fee_bps, lp, supply in self.swaps:
            value_in, value_out = amount_in * self.unit[token_in], out * self.unit[token_out]
            fee = value_in * fee_bps / BPS
            fees += fee
            impact += value_in - value_out - fee
            rebate += Fraction(lp, supply) * (value_in - value_out)
        return fees, impact, rebate

    def route_output(self, route: Sequence[Hop], amount_in: int) -> int | None:
        """What `route` gives for amount_in now; None when a hop would buy nothing."""
        amount = amount_in
        try:
            for hop in route:
                amount = self.states[hop.pair].amount_out(amount, hop.zero_for_one)
                if amount <= 0:
                    return None
        except MathError:
            return None
        return amount

    def best_route(self, routes: Sequence[Sequence[Hop]], amount_in: int) -> Sequence[Hop] | None:
        """Of `routes`, the one that gives the most for amount_in now (no state is changed)."""
        best: tuple[int, Sequence[Hop]] | None = None
        for route in routes:
            amount = self.route_output(route, amount_in)
            if amount is not None and (best is None or amount > best[0]):
                best = (amount, route)
        return None if best is None else best[1]


class _Graph:
    """The book's tradable pairs as a graph of tokens; routes between two tokens, computed once."""

    def __init__(self, view: BookView) -> None:
        book = view.book
        self.max_hops = book.prices.max_hops
        self.edges: dict[str, list[Hop]] = defaultdict(list)
        for name, pair in view.pairs.items():
            if any(book.tokens[symbol].transfer_fee_bps for symbol in book.pair_symbols(name)):
                continue  # fee-on-transfer pairs are never routed through
            t0, t1 = pair.token0.address, pair.token1.address
            self.edges[t0].append(Hop(pair.address, True, t0, t1))
            self.edges[t1].append(Hop(pair.address, False, t1, t0))
        self._routes: dict[tuple[str, str], list[tuple[Hop, ...]]] = {}
        self._distances: dict[str, dict[str, int]] = {}

    def routes(self, token_in: str, token_out: str) -> list[tuple[Hop, ...]]:
        """Every simple path from token_in to token_out, up to max_hops, shortest first."""
        key = (token_in, token_out)
        if key not in self._routes:
            found: list[tuple[Hop, ...]] = []

            def walk(at: str, path: tuple[Hop, ...], seen: frozenset[str]) -> None:
                for hop in self.edges[at]:
                    if hop.token_out == token_out:
                        found.append((*path, hop))
                    elif len(path) + 1 < self.max_hops and hop.token_out not in seen:
                        walk(hop.token_out, (*path, hop), seen | {hop.token_out})

            walk(token_in, (), frozenset((token_in,)))
            self._routes[key] = sorted(found, key=len)
        return self._routes[key]

    def hops(self, token_in: str, token_out: str) -> int:
        """Length of the shortest route (0: none), by breadth-first search: enumerating every route
        of a book of a thousand pools around two hub tokens would take seconds."""
        if token_in not in self._distances:
            distance = {token_in: 0}
            frontier = [token_in]
            for depth in range(1, self.max_hops + 1):
                reached = []
                for at in frontier:
                    for hop in self.edges[at]:
                        if hop.token_out not in distance:
                            distance[hop.token_out] = depth
                            reached.append(hop.token_out)
                frontier = reached
            self._distances[token_in] = distance
        if token_out == token_in:  # a round trip (never planned: a token is sold or bought, not both)
            routes = self.routes(token_in, token_out)
            return len(routes[0]) if routes else 0
        return self._distances[token_in].get(token_out, 0)


@dataclass(frozen=True, slots=True)
class _Trades:
    """Each active sleeve's trade in value: positive buys into the sleeve, negative sells out of it."""

    deltas: dict[str, Fraction]
    skipped: tuple[str, ...]
    traded_value: Fraction


def _deltas(view: BookView, targets: Mapping[str, Fraction]) -> tuple[dict[str, Fraction], tuple[str, ...]]:
    """Each sleeve's trade toward its target in value, and the sleeves whose trade is too small."""
    policy = view.book.policy
    smallest = max(Fraction(policy.deadband) * view.total, Fraction(policy.min_trade_value))
    deltas: dict[str, Fraction] = {}
    skipped = []
    for sleeve in view.sleeves:
        delta = targets[sleeve.label] * view.total - sleeve.value
        if delta == 0:
            continue
        if abs(delta) < smallest:
            skipped.append(sleeve.label)
            continue
        deltas[sleeve.label] = delta
    return deltas, tuple(skipped)


def _trades(wanted: tuple[dict[str, Fraction], tuple[str, ...]], keep: int | None = None) -> _Trades:
    """The sleeve trades worth making (`_deltas`); with `keep`, only that many of the largest (the
    rest deferred)."""
    deltas, skipped = wanted
    skipped_now = list(skipped)
    if keep is not None and keep < len(deltas):
        # the order only picks which trades wait: floats rank them (exact ratios in a large book
        # run to thousands of digits, and comparing those dominated the plan)
        largest = sorted(deltas, key=lambda label: abs(float(deltas[label])), reverse=True)
        skipped_now += largest[keep:]
        deltas = {label: deltas[label] for label in largest[:keep]}
    sells = sum((-d for d in deltas.values() if d < 0), Fraction(0))
    buys = sum((d for d in deltas.values() if d > 0), Fraction(0))
    if sells == 0 or buys == 0:
        return _Trades({}, tuple(skipped_now), Fraction(0))
    # skipped trades leave sells and buys unequal: scale the larger side down to the smaller
    scale_sells, scale_buys = (buys / sells, Fraction(1)) if sells > buys else (Fraction(1), sells / buys)
    scaled = {label: d * (scale_buys if d > 0 else scale_sells) for label, d in deltas.items()}
    return _Trades(scaled, tuple(skipped_now), min(sells, buys))


def _one_pass(
    view: BookView,
    graph: _Graph,
    trades: _Trades,
    split: Mapping[str, float],
    order: list[tuple[str, str]] | None = None,
    chosen: dict[tuple[str, str], Sequence[Hop]] | None = None,
    zap: set[str] | None = None,
) -> tuple[_Sim, dict[str, float], dict[str, float], dict[str, float]]:
    """Plan once with LP sleeves' token1/token0 ratios `split` (None: the pair's own ratio).

    Args:
        order: the (seller, buyer) order of the first pass; later passes keep it, so a small
            correction cannot flip which surplus covers which deficit (and undo itself).
        chosen: the route each (seller, buyer) took in the first pass, kept likewise.
        zap: sleeves whose mint is zapped (the excess swapped in the pair) instead of matched.

    Returns the simulation, each minted sleeve's dust, and its mismatch: log of (token1/token0
    that arrived) over (the pair's ratio at mint time), and the split each sleeve asked for.
    """
    book = view.book
    sim = _Sim(view)
    sleeves = {s.label: s for s in view.sleeves}
    released: dict[str, int] = defaultdict(int)
    demand: dict[str, int] = defaultdict(int)
    sinks: dict[str, tuple[SleeveView, int, int]] = {}
    used: dict[str, float] = {}
    unit = sim.unit_f

    for label, exact in trades.deltas.items():
        delta = float(exact)
        sleeve = sleeves[label]
        if delta > 0:
            continue
        if sleeve.pair is not None:
            share = -exact / sleeve.value
            liquidity = sleeve.lp if share >= 1 else int(sleeve.lp * share)
            if liquidity > 0:
                try:
                    a0, a1 = sim.burn(sleeve.pair.address, liquidity, f"burn {label}")
                except InsufficientLiquidityBurned:
                    continue  # too little LP to return both tokens: the pair would refuse it
                released[sleeve.pair.token0.address] += a0
                released[sleeve.pair.token1.address] += a1
        else:
            assert sleeve.token is not None
            token = sleeve.token.address
            # what the sleeve itself holds (the vault's balance may already include burned tokens)
            released[token] += min(sleeve.amounts[token], int(-delta / unit[token]))

    for label, exact in trades.deltas.items():
        delta = float(exact)
        sleeve = sleeves[label]
        if delta < 0:
            continue
        if sleeve.pair is not None:
            t0, t1 = sleeve.pair.token0.address, sleeve.pair.token1.address
            state = sim.states[sleeve.pair.address]
            ratio = split.get(label) or state.reserve1 / state.reserve0
            used[label] = ratio
            need0 = int(delta / (unit[t0] + ratio * unit[t1]))
            need1 = int(need0 * ratio)
            demand[t0] += need0
            demand[t1] += need1
            sinks[label] = (sleeve, need0, need1)
        else:
            assert sleeve.token is not None
            demand[sleeve.token.address] += int(delta / unit[sleeve.token.address])

    tokens = set(released) | set(demand)
    surplus = {t: released[t] - demand[t] for t in tokens if released[t] > demand[t]}
    deficit = {t: demand[t] - released[t] for t in tokens if demand[t] > released[t]}
    delivered: dict[str, int] = defaultdict(int)
    names = book.pair_names
    for seller, buyer, amount in _allocate(surplus, deficit, sim, graph, order):
        route = chosen.get((seller, buyer)) if chosen is not None else None
        if route is not None and sim.route_output(route, amount) is None:
            continue  # the kept route buys nothing for this amount now
        if route is None:
            route = sim.best_route(graph.routes(seller, buyer), amount)
            if route is None:
                continue
            if chosen is not None:
                chosen[(seller, buyer)] = route
        got = amount
        symbol_in, symbol_out = view.snapshot.tokens[seller].symbol, view.snapshot.tokens[buyer].symbol
        for n, hop in enumerate(route):
            hops = f" (hop {n + 1}/{len(route)} via {names[hop.pair]})" if len(route) > 1 else ""
            got = sim.swap(hop, got, f"sell {symbol_in} for {symbol_out}{hops}", (seller, buyer))
        delivered[buyer] += got

    fill = {t: (released[t] + delivered[t]) / demand[t] if t in deficit else 1.0 for t in demand}
    dust: dict[str, float] = {}
    corrections: dict[str, float] = {}
    for label, (sleeve, need0, need1) in sinks.items():
        assert sleeve.pair is not None
        pair = sleeve.pair.address
        t0, t1 = sim.tokens[pair]
        have0 = min(int(need0 * fill[t0]), sim.balances[t0])
        have1 = min(int(need1 * fill[t1]), sim.balances[t1])
        state = sim.states[pair]
        if have0 <= 0 or have1 <= 0:
            continue
        zapped = None
        if zap is not None and label in zap:
            # the passes could not match this mint: zap what arrived (swap the excess in the pair),
            # unless the excess is a token this plan buys (it would be bought and sold)
            try:
                zapped = plan_zap(have0, have1, state)
            except (InsufficientLiquidityMinted, MathError):
                zapped = None
            if zapped is not None and (t0 if zapped.zero_for_one else t1) in deficit:
                zapped = None
        if zapped is not None:
            if zapped.swap_in > 0:
                t_in, t_out = (t0, t1) if zapped.zero_for_one else (t1, t0)
                hop = Hop(pair, zapped.zero_for_one, t_in, t_out)
                got = sim.swap(hop, zapped.swap_in, f"zap {label}: sell the excess", (t_in, t_out))
                have0, have1 = (
                    (have0 - zapped.swap_in, have1 + got)
                    if zapped.zero_for_one
                    else (have0 + got, have1 - zapped.swap_in)
                )
            state = sim.states[pair]
            mint0, mint1 = zapped.mint0, zapped.mint1
        else:
            # matched twice: a fixed point of the vault's own ratio matching, so the mint may carry
            # what earlier ops produced and still send exactly these amounts when nothing moves
            mint0, mint1 = matched_amounts(*matched_amounts(have0, have1, state), state)
        try:
            if mint_liquidity(mint0, mint1, state.reserve0, state.reserve1, state.total_supply) <= 0:
                continue
        except InsufficientLiquidityMinted:
            continue
        sim.mint(pair, mint0, mint1, f"mint {label}")
        minted_value = mint0 * unit[t0] + mint1 * unit[t1]
        dust[label] = ((have0 - mint0) * unit[t0] + (have1 - mint1) * unit[t1]) / minted_value
        # amounts move in whole base units: one unit of the coarsest token this plan trades (a
        # satoshi of WBTC feeding a small mint) is a floor no split can beat
        sim.dust_floor[label] = 2 * max(unit[t] for t in (*tokens, t0, t1)) / minted_value
        # how far what arrived is from the pair's ratio at mint time (log; 0 when matched)
        corrections[label] = math.log((have1 / have0) / (state.reserve1 / state.reserve0))
    return sim, dust, corrections, used


def _allocate(
    surplus: Mapping[str, int],
    deficit: Mapping[str, int],
    sim: _Sim,
    graph: _Graph,
    order: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str, int]]:
    """Which surplus covers which deficit: (seller, buyer, amount of seller), direct pairs first.

    Greedy by route length, then by size: a deficit is covered from a token it shares a pair
    with before any multi-hop route is used. Every surplus is sold whole: the last chunk of a
    seller takes what rounding left over.
    """
    unit = sim.unit_f
    left_sell = {t: n * unit[t] for t, n in surplus.items()}
    left_buy = {t: n * unit[t] for t, n in deficit.items()}
    hops = {(s, b): graph.hops(s, b) for s in surplus for b in deficit}
    shortest_for_seller = {
        s: min((hops[(s, b)] for b in deficit if hops[(s, b)]), default=0) for s in surplus
    }
    shortest_for_buyer = {b: min((hops[(s, b)] for s in surplus if hops[(s, b)]), default=0) for b in deficit}

    # how many equally short alternatives each side has
    for_buyer = {b: sum(1 for s in surplus if hops[(s, b)] == shortest_for_buyer[b]) for b in deficit}
    for_seller = {s: sum(1 for b in deficit if hops[(s, b)] == shortest_for_seller[s]) for s in surplus}

    def options(combo: tuple[str, str]) -> int:
        """How many equally short alternatives the scarcer side of this combo has."""
        return min(for_buyer[combo[1]], for_seller[combo[0]])

    # shortest routes first; among those, the side with the fewest alternatives first (a buyer
    # reachable directly from one seller only gets that seller before a flexible buyer takes it)
    combos = sorted(
        (combo for combo, n in hops.items() if n > 0),
        key=lambda c: (hops[c], options(c), -min(left_sell[c[0]], left_buy[c[1]]), c),
    )
    if order is not None:
        if not order:
            order.extend(combos)  # the first pass fixes the order for the passes after it
        else:
            rank = {combo: i for i, combo in enumerate(order)}
            combos.sort(key=lambda c: rank.get(c, len(rank)))
    chunks: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for seller, buyer in combos:
        value = min(left_sell[seller], left_buy[buyer])
        if value > 0:
            chunks[seller].append((buyer, value))
            left_sell[seller] -= value
            left_buy[buyer] -= value
    allocation = []
    for seller, parts in chunks.items():
        left = surplus[seller]
        for i, (buyer, value) in enumerate(parts):
            amount = left if i == len(parts) - 1 else min(left, int(value / unit[seller]))
            left -= amount
            if amount > 0:
                allocation.append((seller, buyer, amount))
    return allocation


def _with_min_outs(sim: _Sim, slippage_bps: int) -> tuple[PlannedOp, ...]:
    def floor(amount: int) -> int:
        return max(1, amount * (BPS - slippage_bps) // BPS)

    planned = []
    for i, (kind, op, purpose, spent, received) in enumerate(sim.ops):
        if kind == "burn":
            assert isinstance(op, Burn)
            a0, a1 = received.values()
            op = dataclasses.replace(op, min_amount0=floor(a0), min_amount1=floor(a1))
        elif kind == "swap":
            assert isinstance(op, Swap)
            op = dataclasses.replace(op, min_out=floor(next(iter(received.values()))))
        else:
            assert isinstance(op, Mint)
            op = dataclasses.replace(op, min_liquidity=floor(next(iter(received.values()))))
        planned.append(PlannedOp(op, purpose, spent, received, sim.legs.get(i)))
    return tuple(planned)


FLOOR_BYTES = 37  # op, token, minimum


def _touched(ops: Sequence[PlannedOp]) -> list[str]:
    """Every token and LP the bundle moves, in a fixed order."""
    return sorted({address for p in ops for address in (*p.spent, *p.received)})


def _floors(
    view: BookView, sim: _Sim, ops: Sequence[PlannedOp], budget: Fraction
) -> tuple[tuple[Floor, ...], Fraction]:
    """The vault's least post-bundle holding of each touched token and LP, and the loss they allow.

    What the bundle only spends (or passes through) may not end below its prediction: inputs are
    spent exactly, and what flows through is carried, so a market move leaves more of them, not
    less. What the bundle ends up with more of (LP minted, tokens bought) may each end below its
    prediction by the same share `budget / V` of its predicted value (V: their predicted value), so
    the value lost when all of them end at their floors is at most `budget`. Values are in the
    numeraire: tokens at the snapshot's prices, LP at the post-bundle reserves.
    """
    predicted = {**sim.balances, **sim.lp}
    unit = dict(sim.unit)
    for address, (t0, t1) in sim.tokens.items():
        state = sim.states[address]
        if state.total_supply and t0 in unit and t1 in unit:
            unit[address] = (state.reserve0 * unit[t0] + state.reserve1 * unit[t1]) / state.total_supply
    net: dict[str, int] = {}
    for planned in ops:
        for address, amount in planned.received.items():
            net[address] = net.get(address, 0) + amount
        for address, amount in planned.spent.items():
            net[address] = net.get(address, 0) - amount
    touched = _touched(ops)
    gains = [a for a in touched if net.get(a, 0) > 0 and a in unit]
    total = sum((predicted.get(a, 0) * unit[a] for a in gains), Fraction(0))
    share = min(Fraction(1), budget / total) if total > 0 else Fraction(0)
    floors = []
    allowed = Fraction(0)
    for address in touched:
        amount = predicted.get(address, 0)
        give = math.floor(amount * share) if address in gains else 0
        floors.append(Floor(address, amount - give))
        allowed += give * unit.get(address, Fraction(0))
    return tuple(floors), allowed


def _with_carry(sim: _Sim, ops: Sequence[PlannedOp]) -> tuple[PlannedOp, ...]:
    """Each token's last spender in the bundle spends it CARRIED: what it was planned to spend
    beyond what earlier ops produced, plus what they actually produced. A market move between the
    plan and the block then changes what flows through the bundle instead of reverting it or
    taking another sleeve's balance; the floors bound what it may cost. When nothing moves, every
    amount is exactly the planned one. A carried swap keeps no min-out of its own (its input may
    differ from the plan; the floors bound its output); a mint is carried only where the vault's
    ratio matching keeps its planned amounts."""
    last: dict[str, int] = {}
    for i, planned in enumerate(ops):
        for token in planned.spent:
            last[token] = i
    carry: dict[str, int] = {}
    out = []
    for i, planned in enumerate(ops):

        def field(token: str, amount: int, at: int = i) -> int | None:
            held = carry.get(token, 0)
            return carried(amount, held) if last.get(token) == at and held > 0 else None

        op = planned.op
        if isinstance(op, Swap):
            (token_in,) = planned.spent
            flagged = field(token_in, op.amount_in)
            if flagged is not None:
                op = dataclasses.replace(op, amount_in=flagged, min_out=1)
        elif isinstance(op, Mint) and i in sim.matchable:
            t0, t1 = sim.tokens[op.pair]
            f0, f1 = field(t0, op.amount0), field(t1, op.amount1)
            if f0 is not None or f1 is not None:
                op = dataclasses.replace(
                    op, amount0=op.amount0 if f0 is None else f0, amount1=op.amount1 if f1 is None else f1
                )
        for token, amount in planned.spent.items():
            carry[token] = max(0, carry.get(token, 0) - amount)
        for token, amount in planned.received.items():
            carry[token] = carry.get(token, 0) + amount
        out.append(dataclasses.replace(planned, op=op))
    return tuple(out)


def _shape(view: BookView, sim: _Sim, ops: Sequence[PlannedOp]) -> BundleShape:
    """What the gas model needs beyond the ops: tokens moved, vault slots set or cleared, fresh oracles."""
    before = {
        **{t.address: view.snapshot.balances.get(t.address, 0) for t in view.tokens.values()},
        **{p.address: p.holder_lp for p in view.pairs.values()},
    }
    after = {**sim.balances, **sim.lp}
    moved = {address for p in ops for address in (*p.spent, *p.received)}
    pairs = {p.op.pair for p in ops}
    vault = view.vault
    # the cooldown's and the daily cap's counters, each written when its guard is on (0: never yet)
    written = [c for c, on in ((vault.last_bundle_at, vault.cooldown_s), (vault.day, vault.per_day)) if on]
    return BundleShape(
        tokens=len(moved - pairs),
        new_slots=sum(1 for a in moved if before.get(a, 0) == 0 < after.get(a, 0)),
        cleared_slots=sum(1 for a in moved if before.get(a, 0) > 0 == after.get(a, 0)),
        fresh_oracles=sum(
            1 for p in view.pairs.values() if p.address in pairs and p.price0_cumulative_last == 0
        ),
        guarded_pairs=len(pairs) if vault.priced else 0,
        guard_counters_new=sum(1 for c in written if c == 0),
        guard_counters=sum(1 for c in written if c != 0),
    )


def _upkeep(view: BookView, pairs: set[str], gas_model: GasModel) -> int:
    """Gas of the poke the bundle's pairs need first on a guarded vault (0: none)."""
    due = [
        p.address for p in view.vault.pokes_due(view.pairs.values(), view.now.timestamp) if p.address in pairs
    ]
    return poke_gas(view.vault, due, gas_model) if due else 0


def poke_gas(vault: VaultGuards, due: Sequence[str], gas_model: GasModel) -> int:
    """Gas units of a poke of the `due` pairs (those the vault never observed write both words)."""
    fresh = sum(1 for p in due if vault.newest_at(p) == 0)
    return gas_model.poke(poke_calldata(due), len(due) - fresh, fresh)


def _misallocated(weights: Mapping[str, Fraction], targets: Mapping[str, Fraction]) -> Fraction:
    return sum((abs(weights[label] - t) for label, t in targets.items()), Fraction(0)) / 2


def _post_view(view: BookView, sim: _Sim) -> BookView:
    """The book valued after the bundle (prices from the post-bundle reserves)."""
    snapshot = view.snapshot
    pairs = tuple(
        dataclasses.replace(
            p,
            reserve0=sim.states[p.address].reserve0,
            reserve1=sim.states[p.address].reserve1,
            total_supply=sim.states[p.address].total_supply,
            k_last=sim.states[p.address].k_last,
            holder_lp=sim.lp[p.address],
        )
        if p.address in sim.states
        else p
        for p in snapshot.pairs
    )
    balances = {**snapshot.balances, **sim.balances}
    post = dataclasses.replace(snapshot, pairs=pairs, balances=balances)
    return value_book(view.book, post, view.history, vault=view.vault)


def _solve(view: BookView, graph: _Graph, trades: _Trades) -> tuple[_Sim, dict[str, float], int]:
    """Plan passes until every mint's dust is within DUST_LIMIT; keep the best pass.

    Each minted sleeve's token split (log token1/token0 it asks for) is solved for a zero
    mismatch with the secant method: a plain fixed-point step overshoots when the sleeve's own
    demand moves the prices it is filled at. The allocation order and the routes of the first
    pass are kept, so the function being solved is continuous. A small mint funded by a coarse
    token has a floor (one satoshi of WBTC is more than a millionth of a few hundred dollars):
    the passes stop once they stop improving.
    """
    order: list[tuple[str, str]] = []
    chosen: dict[tuple[str, str], Sequence[Hop]] = {}
    passes = stale = 0
    best: tuple[float, _Sim, dict[str, float], dict[str, float]] | None = None
    split: dict[str, float] = {}
    last: dict[str, tuple[float, float]] = {}  # label -> (log split, mismatch) of the pass before
    while trades.deltas and passes < MAX_PASSES and stale < STALE_PASSES:
        passes += 1
        sim, dust, mismatch, used = _one_pass(view, graph, trades, split, order, chosen)
        worst = _worst_dust(sim, dust)
        if best is None or worst < best[0]:
            best, stale = (worst, sim, dust, split), 0
        else:
            stale += 1
        if worst <= 1:
            break
        following: dict[str, float] = {}
        for label, error in mismatch.items():
            x = math.log(used[label])
            step = -error
            if label in last and last[label][1] != error and last[label][0] != x:
                slope = (error - last[label][1]) / (x - last[label][0])
                if slope > 0:
                    step = -error / slope
            last[label] = (x, error)
            following[label] = math.exp(x + max(-1.0, min(1.0, step)))
        split = following
    if best is None:
        return _Sim(view), {}, passes
    if best[0] > 1:
        # last resort: the best split, with the unmatched mints zapped (one more swap each)
        unmatched = {label for label, d in best[2].items() if d > max(DUST_LIMIT, best[1].dust_floor[label])}
        sim, dust, _, _ = _one_pass(view, graph, trades, best[3], order, chosen, unmatched)
        passes += 1
        if _worst_dust(sim, dust) < best[0]:
            return sim, dust, passes
    return best[1], best[2], passes


def _worst_dust(sim: _Sim, dust: Mapping[str, float]) -> float:
    """The largest dust as a multiple of what is allowed (<= 1: every mint is within its bound)."""
    return max((d / max(DUST_LIMIT, sim.dust_floor[label]) for label, d in dust.items()), default=0.0)


def plan_rebalance(
    view: BookView,
    targets: Mapping[str, Fraction],
    gas_model: GasModel | None = None,
    base_fee_wei: int | None = None,
) -> Plan:
    """The exact plan that takes the book in `view` to `targets` (weights by sleeve label).

    Args:
        gas_model: prices the bundle's gas (eth_estimateGas replaces it before sending).
        base_fee_wei: the gas price to value gas at; default the snapshot's base fee.
    """
    book = view.book
    gas_model = gas_model or GasModel()
    wanted = _deltas(view, targets)
    trades = _trades(wanted)
    graph = _Graph(view)
    solved = False
    while True:
        # a first pass sizes the bundle; the passes that remove the dust do not change its size much
        sim, dust, passes = (
            _solve(view, graph, trades) if solved else (*_one_pass(view, graph, trades, {})[:2], 1)
        )
        moved = {address for _, _, _, spent, received in sim.ops for address in (*spent, *received)}
        size = sum(len(encode_op(op)) for _, op, *_ in sim.ops) + len(moved) * FLOOR_BYTES + len(PADDING)
        if size > MAX_OPS_BYTES:
            # one transaction per rebalance: the smallest trades wait for a later head
            keep = min(len(trades.deltas) - 1, len(trades.deltas) * MAX_OPS_BYTES // size)
            trades = _trades(wanted, keep)
            solved = False
        elif solved or all(d <= DUST_LIMIT for d in dust.values()):
            break
        else:
            solved = True
    ops = _with_carry(sim, _with_min_outs(sim, book.policy.slippage_bps))
    after = _post_view(view, sim)
    weights_before = {s.label: s.weight for s in view.sleeves}
    weights_after = {s.label: s.weight for s in after.sleeves}
    budget = trades.traded_value * book.policy.slippage_bps / BPS
    floors, loss_bound = _floors(view, sim, ops, budget) if ops else ((), Fraction(0))
    if ops:
        deadline = view.now.timestamp + book.policy.deadline_s
        bundle: list[Op] = [*(p.op for p in ops), *floors]
        calldata = execute_calldata(bundle, deadline, ESTIMATE_BUNDLE_ID)
        gas_units = gas_model.total(bundle, calldata, _shape(view, sim, ops))
        upkeep_units = _upkeep(view, {p.op.pair for p in ops}, gas_model)
    else:
        gas_units = upkeep_units = 0
    gas_price = view.snapshot.base_fee_wei if base_fee_wei is None else base_fee_wei
    gas_wei = gas_units * gas_price
    removed = (
        _misallocated(weights_before, targets) * view.total
        - _misallocated(weights_after, targets) * after.total
    )
    lp_fees, impact, rebate = sim.trading_costs()
    costs = Costs(
        lp_fees=lp_fees,
        price_impact=impact,
        own_lp_rebate=rebate,
        gas_units=gas_units,
        gas_wei=gas_wei,
        gas=Fraction(gas_wei, WEI_PER_NATIVE) * view.native_price,
        traded_value=trades.traded_value,
        benefit=max(Fraction(0), removed) * Fraction(book.policy.benefit_bps) / BPS,
        upkeep_gas_units=upkeep_units,
        upkeep=Fraction(upkeep_units * gas_price, WEI_PER_NATIVE) * view.native_price,
    )
    return Plan(
        ops=ops,
        balances=dict(sim.balances),
        lp=dict(sim.lp),
        pairs=dict(sim.states),
        targets=dict(targets),
        weights_before=weights_before,
        weights_after=weights_after,
        value_after=after.total,
        dust=dust,
        dust_floor={label: sim.dust_floor[label] for label in dust},
        skipped=trades.skipped,
        costs=costs,
        passes=passes,
        floors=floors,
        loss_bound=loss_bound,
    )
