"""From a snapshot to a BookView: prices with provenance, sleeve values, weights, drift, IL, fees. Pure.

Prices come through the book's own pairs: a configured route per token, else the deepest
one. Spot prices come from reserves; TWAP prices from the pairs' cumulative prices between
an earlier snapshot and this one (Uniswap V2's oracle). Every price says where it came
from: the pairs, the block(s), spot or TWAP. Prices are exact ratios; values (and so totals and
weights) are floored to VALUE_PLACES (30) decimals of the numeraire, far below any token's base
unit, so that a large book's sums stay short.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

from bot.core.amm import lp_share_amounts
from bot.core.book import Book, Moment, Sleeve, fraction
from bot.core.entries import Entry, LpMove, follow, opening_lp
from bot.core.errors import BadInput
from bot.core.pricing import Price, spot_prices
from bot.core.snapshot import PairSnapshot, Snapshot, TokenInfo
from bot.core.vault_guards import VaultGuards

Q112 = 2**112
UINT256 = 2**256
UINT32 = 2**32
SECONDS_PER_DAY = 86_400
VALUE_PLACES = 30
VALUE_SCALE = 10**VALUE_PLACES
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class History:
    """What happened before this head (from the journal): the last rebalance and evaluation."""

    last_rebalance: Moment | None = None
    last_evaluation: Moment | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """An LP sleeve against holding what was deposited, all in the numeraire at today's prices.

    Attributes:
        hold_value: the entry amounts, valued now.
        lp_value: the LP's share of the pair now.
        fee_income: the part of lp_value that swap fees added since entry (sqrt(k) per LP growth).
        il_value: lp_value without the fees, minus hold_value (<= 0 at the pair's own price).
        il: il_value / hold_value.
        price_move: the pair's price now over its price at entry, minus 1.
        pnl_vs_hold: lp_value - hold_value (= il_value + fee_income).
    """

    hold_value: Fraction
    lp_value: Fraction
    fee_income: Fraction
    il_value: Fraction
    il: Fraction
    price_move: Fraction
    pnl_vs_hold: Fraction


class _Banded:
    """Drift and band of anything with a weight, a target and a band (sleeves, buckets)."""

    __slots__ = ()
    weight: Fraction
    target: Fraction
    band: Fraction

    @property
    def drift(self) -> Fraction:
        """Weight minus target (positive: over target)."""
        return self.weight - self.target

    @property
    def outside_band(self) -> bool:
        return abs(self.drift) > self.band


@dataclass(frozen=True, slots=True)
class SleeveView(_Banded):
    """One sleeve at this block.

    Attributes:
        amounts: what the sleeve holds in base units by token address (an LP sleeve: its
            share of the pair's reserves).
        lp: LP held (LP sleeves), else 0.
        band: the absolute half-width of the band around `target`.
    """

    sleeve: Sleeve
    pair: PairSnapshot | None
    token: TokenInfo | None
    amounts: Mapping[str, int]
    lp: int
    value: Fraction
    weight: Fraction
    target: Fraction
    band: Fraction
    # IL, fees and PnL against holding cost more than the rest of the view, and a strategy that
    # looks at weights alone never reads them: computed on first read, once
    position_of: Callable[[], Position | None] | None = field(default=None, repr=False, compare=False)
    _memo: list[Position | None] = field(default_factory=list, repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.sleeve.label

    @property
    def position(self) -> Position | None:
        """The LP sleeve's position against holding its entry (None: no LP, or no entry)."""
        if not self._memo:
            self._memo.append(self.position_of() if self.position_of is not None else None)
        return self._memo[0]


@dataclass(frozen=True, slots=True)
class BucketView(_Banded):
    """Correlated sleeves as one: summed value, weight and target, and the bucket's band."""

    name: str
    members: tuple[str, ...]
    value: Fraction
    weight: Fraction
    target: Fraction
    band: Fraction


@dataclass(frozen=True, slots=True)
class BookView:
    """The book valued at one block: everything a strategy decides on.

    Attributes:
        tokens: the book's tokens by symbol, as the chain describes them.
        pairs: the book's pairs by name.
        prices / twap: numeraire per whole token, by address (twap falls back to spot, marked so).
        volatility: realized volatility per day of each token in the numeraire, from `past`.
        unsleeved: value of holdings no sleeve covers (by symbol or pair name), not in `total`.
        vault: the vault's own guards and observations (all off when not read).
    """

    book: Book
    snapshot: Snapshot
    now: Moment
    tokens: Mapping[str, TokenInfo]
    pairs: Mapping[str, PairSnapshot]
    prices: Mapping[str, Price]
    twap: Mapping[str, Price]
    volatility: Mapping[str, float]
    sleeves: tuple[SleeveView, ...]
    buckets: tuple[BucketView, ...]
    total: Fraction
    unsleeved: Mapping[str, Fraction] = field(default_factory=dict)
    history: History = field(default_factory=History)
    vault: VaultGuards = field(default_factory=VaultGuards)

    def sleeve(self, label: str) -> SleeveView:
        for view in self.sleeves:
            if view.label == label:
                return view
        raise KeyError(label)

    def price(self, symbol: str) -> Fraction:
        """Spot price of a token of the book, numeraire per whole token."""
        return self.prices[self.tokens[symbol].address].value

    @property
    def native_price(self) -> Fraction:
        """Numeraire per whole native token (gas)."""
        return self.price(self.book.dex.native)


class LazyMapping(Mapping[str, V]):
    """A mapping computed on its first read (TWAP prices and unsleeved holdings: only guards and
    reports read them, and the backtest values a book at every block)."""

    __slots__ = ("_compute", "_data")

    def __init__(self, compute: Callable[[], Mapping[str, V]]) -> None:
        self._compute = compute
        self._data: Mapping[str, V] | None = None

    def _get(self) -> Mapping[str, V]:
        if self._data is None:
            self._data = self._compute()
        return self._data

    def __getitem__(self, key: str) -> V:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


# --- prices -----------------------------------------------------------------------------------


def _cumulative_at(pair: PairSnapshot, timestamp: int) -> tuple[int, int]:
    """UniswapV2OracleLibrary.currentCumulativePrices: the cumulatives as if the pair were synced now."""
    elapsed = (timestamp - pair.block_timestamp_last) % UINT32
    c0 = (pair.price0_cumulative_last + (pair.reserve1 * Q112 // pair.reserve0) * elapsed) % UINT256
    c1 = (pair.price1_cumulative_last + (pair.reserve0 * Q112 // pair.reserve1) * elapsed) % UINT256
    return c0, c1


@dataclass(frozen=True, slots=True)
class Observation:
    """A pair's price cumulatives as of one block's timestamp (as if it were synced then): two of
    them, of the same pair, give its time-weighted average price between their blocks. The keeper
    journals one per pair and head, so it needs no archive node for its TWAP window."""

    pair: str
    block: int
    timestamp: int
    cumulative0: int
    cumulative1: int


def observe(snapshot: Snapshot) -> dict[str, Observation]:
    """The observation of every pair of `snapshot`, by pair address."""
    out = {}
    for pair in snapshot.pairs:
        c0, c1 = _cumulative_at(pair, snapshot.block_timestamp)
        out[pair.address] = Observation(pair.address, snapshot.block_number, snapshot.block_timestamp, c0, c1)
    return out


def observed_twap(old: Observation, new: Observation) -> tuple[Fraction, Fraction] | None:
    """Time-weighted (token1 per token0, token0 per token1) in base units between two observations.

    None when no time passed. Differences wrap at 2**256 as the pair's own counters do.
    """
    elapsed = (new.timestamp - old.timestamp) % UINT32
    if elapsed == 0:
        return None
    return (
        Fraction((new.cumulative0 - old.cumulative0) % UINT256, elapsed * Q112),
        Fraction((new.cumulative1 - old.cumulative1) % UINT256, elapsed * Q112),
    )


def pair_twap(
    old: PairSnapshot, old_ts: int, new: PairSnapshot, new_ts: int
) -> tuple[Fraction, Fraction] | None:
    """Time-weighted (token1 per token0, token0 per token1) in base units between two snapshots.

    None when no time passed. Differences wrap at 2**256 as the pair's own counters do.
    """
    o0, o1 = _cumulative_at(old, old_ts)
    n0, n1 = _cumulative_at(new, new_ts)
    return observed_twap(
        Observation(old.address, 0, old_ts, o0, o1), Observation(new.address, 0, new_ts, n0, n1)
    )


def _route_price(
    token: str,
    route: Sequence[str],
    pairs: Mapping[str, PairSnapshot],
    rate: Mapping[str, tuple[Fraction, Fraction]],
) -> Fraction:
    """Numeraire per whole `token` along `route` (pair addresses), with per-pair base-unit rates."""
    value = Fraction(1)
    at = token
    for address in route:
        pair = pairs[address]
        price0, price1 = rate[address]
        if at == pair.token0.address:
            value *= price0 * Fraction(10**pair.token0.decimals, 10**pair.token1.decimals)
            at = pair.token1.address
        else:
            value *= price1 * Fraction(10**pair.token1.decimals, 10**pair.token0.decimals)
            at = pair.token0.address
    return value


def _routes(
    book: Book, snapshot: Snapshot, numeraire: str, tokens: Mapping[str, TokenInfo]
) -> dict[str, Price]:
    """Spot prices: the configured route where the book gives one, else the deepest."""
    prices = spot_prices(snapshot, numeraire)
    by_address = {p.address: p for p in snapshot.pairs}
    spot = {
        p.address: (Fraction(p.reserve1, p.reserve0), Fraction(p.reserve0, p.reserve1))
        for p in snapshot.pairs
    }
    for symbol, names in book.prices.routes.items():
        address = tokens[symbol].address
        route = tuple(book.pairs[name] for name in names)
        value = _route_price(address, route, by_address, spot)
        prices[address] = Price(address, value, route, snapshot.block_number)
    return prices


def _twap_prices(
    prices: Mapping[str, Price], snapshot: Snapshot, start: Mapping[str, Observation]
) -> dict[str, Price]:
    """TWAP along each spot price's route, from the window's `start` (an observation per pair) to
    `snapshot`; a token whose route lacks one keeps spot, marked "spot (no TWAP window)", which no
    guard takes for a TWAP."""
    now = observe(snapshot)
    rates: dict[str, tuple[Fraction, Fraction]] = {}
    first: dict[str, int] = {}
    for address, old in start.items():
        if address in now and old.block < snapshot.block_number:
            twap = observed_twap(old, now[address])
            if twap is not None:
                rates[address], first[address] = twap, old.block
    by_address = {p.address: p for p in snapshot.pairs}
    out: dict[str, Price] = {}
    for address, price in prices.items():
        if all(hop in rates for hop in price.route) and (price.route or rates):
            since = min((first[hop] for hop in price.route), default=min(first.values()))
            value = _route_price(address, price.route, by_address, rates)
            kind = f"twap {since}-{snapshot.block_number}"
            out[address] = Price(address, value, price.route, snapshot.block_number, kind)
        else:
            out[address] = Price(address, price.value, price.route, price.block, "spot (no TWAP window)")
    return out


def realized_volatility(samples: Sequence[tuple[int, Fraction]]) -> float:
    """Volatility per day from (timestamp, price) samples: sqrt(sum of squared log returns / time).

    0.0 with fewer than two samples.
    """
    squares = 0.0
    elapsed = 0
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        if t1 <= t0 or p0 <= 0 or p1 <= 0:
            continue
        squares += math.log(p1 / p0) ** 2
        elapsed += t1 - t0
    if elapsed == 0:
        return 0.0
    return math.sqrt(squares / elapsed * SECONDS_PER_DAY)


# --- the view ---------------------------------------------------------------------------------


def _check_against_chain(
    book: Book, snapshot: Snapshot
) -> tuple[dict[str, TokenInfo], dict[str, PairSnapshot]]:
    """The book's tokens and pairs as the chain has them; BadInput when they disagree with the file."""
    tokens: dict[str, TokenInfo] = {}
    for symbol, config in book.tokens.items():
        info = snapshot.tokens.get(config.address)
        if info is None:
            raise BadInput(f"token {symbol} ({config.address}) was not read from the chain")
        tokens[symbol] = info
    pairs: dict[str, PairSnapshot] = {}
    for name, address in book.pairs.items():
        pair = snapshot.pair(address)  # raises the typed error that kept it out of the book
        wanted = {tokens[s].address for s in book.pair_symbols(name)}
        if {pair.token0.address, pair.token1.address} != wanted:
            raise BadInput(
                f"pair {name} ({address}) holds {pair.token0.symbol}/{pair.token1.symbol} "
                f"({pair.token0.address}, {pair.token1.address}), not {name}"
            )
        pairs[name] = pair
    return tokens, pairs


def _value(
    amounts: Mapping[str, int], tokens: Mapping[str, TokenInfo], prices: Mapping[str, Price]
) -> Fraction:
    exact = Fraction(0)
    for a, n in amounts.items():
        price = prices[a].value  # one Fraction built per amount: valuing is the backtest's hot path
        exact += Fraction(price.numerator * n, price.denominator * 10 ** tokens[a].decimals)
    # NOTE: floored to VALUE_PLACES decimals of the numeraire. Prices through a thousand pools are
    # ratios thousands of digits long; a book's total over such values, and every weight, would be
    # too (a 500-sleeve book took seconds to plan). 30 places is far below any token's base unit.
    return Fraction(exact.numerator * VALUE_SCALE // exact.denominator, VALUE_SCALE)


def _position(
    sleeve: Sleeve,
    pair: PairSnapshot,
    lp: int,
    lp_value: Fraction,
    by_symbol: Mapping[str, TokenInfo],
    prices: Mapping[str, Price],
    moves: Sequence[LpMove] = (),
) -> Position | None:
    """IL, fee income and PnL against holding of an LP sleeve, from its entry after `moves` (the
    journal's executed bundles on its pair)."""
    if sleeve.entry is None or lp == 0:
        return None
    base = {
        by_symbol[s].address: int(fraction(v) * 10 ** by_symbol[s].decimals) for s, v in sleeve.entry.items()
    }
    base_lp = (
        int(fraction(sleeve.entry_lp) * 10**18) if sleeve.entry_lp is not None else opening_lp(lp, moves)
    )
    followed = follow(Entry(base[pair.token0.address], base[pair.token1.address], base_lp), moves)
    e0, e1, entry_lp = followed.amount0, followed.amount1, followed.lp
    if e0 <= 0 or e1 <= 0 or entry_lp <= 0:
        return None
    entry = {pair.token0.address: e0, pair.token1.address: e1}
    tokens = {pair.token0.address: pair.token0, pair.token1.address: pair.token1}
    hold_value = _value(entry, tokens, prices)
    # value at a fixed price is proportional to sqrt(k) per LP: what fees added is the growth of it
    per_lp_entry = Fraction(math.isqrt(e0 * e1), entry_lp)
    per_lp_now = Fraction(math.isqrt(pair.reserve0 * pair.reserve1), pair.total_supply)
    without_fees = lp_value * per_lp_entry / per_lp_now
    fee_income = lp_value - without_fees
    il_value = without_fees - hold_value
    price_move = Fraction(pair.reserve1, pair.reserve0) / Fraction(e1, e0) - 1
    return Position(
        hold_value=hold_value,
        lp_value=lp_value,
        fee_income=fee_income,
        il_value=il_value,
        il=il_value / hold_value,
        price_move=price_move,
        pnl_vs_hold=lp_value - hold_value,
    )


def _unsleeved(
    book: Book,
    snapshot: Snapshot,
    tokens: Mapping[str, TokenInfo],
    pairs: Mapping[str, PairSnapshot],
    by_address: Mapping[str, TokenInfo],
    prices: Mapping[str, Price],
) -> dict[str, Fraction]:
    """The value of holdings no sleeve covers, by pair name or token symbol."""
    unsleeved: dict[str, Fraction] = {}
    sleeved_pairs = {pairs[s.pair].address for s in book.sleeves if s.pair}
    sleeved_tokens = {tokens[s.token].address for s in book.sleeves if s.token}
    for name, pair in pairs.items():
        if pair.address not in sleeved_pairs and pair.holder_lp:
            a0, a1 = lp_share_amounts(pair.holder_lp, pair.reserve0, pair.reserve1, pair.total_supply)
            amounts = {pair.token0.address: a0, pair.token1.address: a1}
            if all(a in prices for a in amounts):
                unsleeved[name] = _value(amounts, by_address, prices)
    for symbol, info in tokens.items():
        balance = snapshot.balances.get(info.address, 0)
        if info.address not in sleeved_tokens and balance and info.address in prices:
            unsleeved[symbol] = _value({info.address: balance}, by_address, prices)

    return unsleeved


def value_book(
    book: Book,
    snapshot: Snapshot,
    history: History | None = None,
    past: Sequence[Snapshot] = (),
    window: Mapping[str, Observation] | None = None,
    moves: Sequence[LpMove] = (),
    vault: VaultGuards | None = None,
) -> BookView:
    """Value `book` at `snapshot`.

    Args:
        history: the last rebalance and evaluation (from the journal).
        past: earlier snapshots of the same book, oldest first: the oldest starts the TWAP
            window (unless `window` is given), consecutive ones give the realized volatility.
        window: where the TWAP window starts, an observation per pair (the keeper's journal).
        moves: the LP minted and burned by the journal's executed bundles, oldest first: LP
            sleeves' entries follow them.
        vault: the vault's guards at the snapshot's block (its bundles' gas and pokes depend on them).

    Raises:
        BadInput: the chain disagrees with the book file (a pair's tokens, a missing token).
        BookReadError: a pair of the book could not be read.
    """
    tokens, pairs = _check_against_chain(book, snapshot)
    by_address = {info.address: info for info in tokens.values()}
    numeraire = tokens[book.numeraire].address
    prices = _routes(book, snapshot, numeraire, tokens)
    start = window if window is not None else (observe(past[0]) if past else {})
    twap = LazyMapping(functools.partial(_twap_prices, prices, snapshot, start))

    # the average price of each interval between consecutive snapshots, then its log returns
    samples: dict[str, list[tuple[int, Fraction]]] = {a: [] for a in prices}
    for earlier, later in itertools.pairwise([*past, snapshot]):
        for address, price in _twap_prices(prices, later, observe(earlier)).items():
            if price.kind.startswith("twap"):
                samples[address].append((later.block_timestamp, price.value))
    volatility = {a: realized_volatility(s) for a, s in samples.items()}

    raw: list[tuple[Sleeve, PairSnapshot | None, TokenInfo | None, dict[str, int], int, Fraction]] = []
    for sleeve in book.sleeves:
        if sleeve.pair is not None:
            pair = pairs[sleeve.pair]
            lp = pair.holder_lp
            a0, a1 = lp_share_amounts(lp, pair.reserve0, pair.reserve1, pair.total_supply)
            amounts = {pair.token0.address: a0, pair.token1.address: a1}
            raw.append((sleeve, pair, None, amounts, lp, _value(amounts, by_address, prices)))
        else:
            assert sleeve.token is not None
            info = tokens[sleeve.token]
            amounts = {info.address: snapshot.balances.get(info.address, 0)}
            raw.append((sleeve, None, info, amounts, 0, _value(amounts, by_address, prices)))
    total = sum((r[5] for r in raw), Fraction(0))

    sleeves = []
    for sleeve, maybe_pair, maybe_token, amounts, lp, value in raw:
        target = fraction(sleeve.target)
        position_of = (
            None
            if maybe_pair is None
            else functools.partial(
                _position,
                sleeve,
                maybe_pair,
                lp,
                value,
                tokens,
                prices,
                [m for m in moves if m.pair == maybe_pair.address],
            )
        )
        sleeves.append(
            SleeveView(
                sleeve=sleeve,
                pair=maybe_pair,
                token=maybe_token,
                amounts=amounts,
                lp=lp,
                value=value,
                weight=value / total if total else Fraction(0),
                target=target,
                band=book.band_width(sleeve),
                position_of=position_of,
            )
        )
    buckets = []
    for name, bucket in book.buckets.items():
        members = [v for v in sleeves if v.sleeve.bucket == name]
        target = sum((v.target for v in members), Fraction(0))
        buckets.append(
            BucketView(
                name=name,
                members=tuple(v.label for v in members),
                value=sum((v.value for v in members), Fraction(0)),
                weight=sum((v.weight for v in members), Fraction(0)),
                target=target,
                band=bucket.width(target, book.policy),
            )
        )

    unsleeved = LazyMapping(functools.partial(_unsleeved, book, snapshot, tokens, pairs, by_address, prices))

    return BookView(
        book=book,
        snapshot=snapshot,
        now=Moment(snapshot.block_number, snapshot.block_timestamp),
        tokens=tokens,
        pairs=pairs,
        prices=prices,
        twap=twap,
        volatility=volatility,
        sleeves=tuple(sleeves),
        buckets=tuple(buckets),
        total=total,
        unsleeved=unsleeved,
        history=history or History(),
        vault=vault or VaultGuards(),
    )
