"""The tax ledger: what deposits, bundles and withdrawals do to the book's lots. Pure, exact.

Every exchange disposes of what it spends for the market value of what it receives, and what
it receives costs that value (the rule of most crypto tax tools). Each op of a bundle is one
exchange, priced at the plan's prices: the prices the keeper decided at, recorded with the
intent, so a plan's predicted gains and the journal's realized ones are the same computation.
The numeraire token has lots like any other (at a price of exactly 1).

LP deposits (mints) and withdrawals (burns) follow `[tax] lp`: "trade" treats them as
exchanges; "non-taxable" carries the basis and the holding start of what goes in to what comes
out, split by value. A zap (which the planner never sends) is an exchange under both. A
withdrawal to the owner is not a disposal: its lots leave with their basis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from bot.core.book import Moment, Tax
from bot.core.tax_lots import Chooser, Disposal, Ledger, LedgerShort, Lot, Piece, Term, dispose, term_of
from bot.core.units import LP_DECIMALS, decimal_text
from bot.core.valuation import BookView

CARRIED = ("mint", "burn")  # the ops "non-taxable" carries basis through
OPENING = "opening"  # the transaction of the ledger's opening balance (`[tax] start_block`)


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """How the ledger names an asset (token symbol, or `<pair> LP`) and its decimals."""

    label: str
    decimals: int


@dataclass(frozen=True, slots=True)
class Quote:
    """Numeraire per whole token of one asset, and where that came from."""

    price: Fraction
    source: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """A deposit into the vault or a withdrawal from it, found on chain.

    `basis` and `acquired` are what the owner says a deposit cost and since when it was held
    (`ammkeeper tax basis`); without them the deposit costs its value at `quote`, held from `at`.
    """

    kind: Literal["deposit", "withdrawal"]
    asset: str
    amount: int
    at: Moment
    tx_hash: str
    log_index: int
    quote: Quote
    basis: Fraction | None = None
    acquired: Moment | None = None

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.tx_hash}"


@dataclass(frozen=True, slots=True)
class OpFlow:
    """What one op of a bundle spent and received, by asset address (base units)."""

    kind: str  # burn, swap, mint, zap
    spent: Mapping[str, int]
    received: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Bundle:
    """An executed bundle: its ops' movements, priced at the plan's block (`at`)."""

    intent_id: int
    tx_hash: str
    block: int  # where it was mined
    at: Moment  # the plan's block: its prices, and the moment of its sales
    ops: tuple[OpFlow, ...]
    quotes: Mapping[str, Quote]

    @property
    def ref(self) -> str:
        return f"bundle #{self.intent_id} ({self.tx_hash})"


Event = Transfer | Bundle


@dataclass(frozen=True, slots=True)
class Applied:
    """One event's effect: the sales it made, the lots it opened and the lots it sent out."""

    event: Event
    disposals: tuple[Disposal, ...]
    opened: tuple[Lot, ...]
    withdrawn: tuple[Piece, ...] = ()


@dataclass(frozen=True, slots=True)
class Gains:
    """Net realized gains (losses negative) by term."""

    short: Fraction = Fraction(0)
    long: Fraction = Fraction(0)

    @property
    def total(self) -> Fraction:
        return self.short + self.long

    def of(self, term: Term) -> Fraction:
        return self.short if term == "short" else self.long

    def __add__(self, other: Gains) -> Gains:
        return Gains(self.short + other.short, self.long + other.long)


def gains(disposals: Iterable[Disposal], year: int | None = None) -> Gains:
    """Net gains of `disposals` (of one UTC calendar year when `year` is given)."""
    short = long = Fraction(0)
    for d in disposals:
        if year is not None and year_of(d.sold) != year:
            continue
        if d.term == "short":
            short += d.gain
        else:
            long += d.gain
    return Gains(short, long)


def year_of(at: Moment) -> int:
    """The UTC calendar year of a moment."""
    # NOTE: proleptic Gregorian arithmetic, not datetime: a book's moments are always in range,
    # but the core stays free of clocks and time zones
    days = at.timestamp // 86_400
    year = 1970
    while True:
        length = 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365
        if days < length:
            return year
        days -= length
        year += 1


def quoted(value: Fraction) -> Fraction:
    """A price as the ledger records it: the journal's decimal text, read back exactly."""
    text = decimal_text(value)
    assert text is not None
    return Fraction(Decimal(text))


def view_quotes(view: BookView) -> dict[str, Quote]:
    """The ledger's prices at a view: spot per token (with its route), and per LP token from its
    pair's reserves at those prices; both rounded as the journal records them."""
    block = view.now.block
    names = {p.address: name for name, p in view.pairs.items()}
    out: dict[str, Quote] = {}
    for token in view.tokens.values():
        price = view.prices.get(token.address)
        if price is None:
            continue
        route = " > ".join(names.get(a, a) for a in price.route) if price.route else "the numeraire"
        out[token.address] = Quote(quoted(price.value), f"spot at block {block} via {route}")
    for name, pair in view.pairs.items():
        p0, p1 = view.prices.get(pair.token0.address), view.prices.get(pair.token1.address)
        if p0 is None or p1 is None or pair.total_supply == 0:
            continue
        worth = (
            Fraction(pair.reserve0, 10**pair.token0.decimals) * p0.value
            + Fraction(pair.reserve1, 10**pair.token1.decimals) * p1.value
        )
        out[pair.address] = Quote(
            quoted(worth * 10**LP_DECIMALS / pair.total_supply),
            f"{name} reserves at block {block}, at spot",
        )
    return out


def view_assets(view: BookView) -> dict[str, AssetInfo]:
    """Labels and decimals of a view's tokens and LP tokens."""
    out = {t.address: AssetInfo(symbol, t.decimals) for symbol, t in view.tokens.items()}
    out.update({p.address: AssetInfo(f"{name} LP", LP_DECIMALS) for name, p in view.pairs.items()})
    return out


@dataclass(frozen=True, slots=True)
class TaxRules:
    """The book's `[tax]` applied to events."""

    tax: Tax
    assets: Mapping[str, AssetInfo]
    numeraire: str = ""  # its address: a price of exactly 1

    def label(self, asset: str) -> str:
        info = self.assets.get(asset)
        return info.label if info else asset

    def value(self, asset: str, amount: int, price: Fraction) -> Fraction:
        info = self.assets.get(asset)
        scale: int = 10 ** (info.decimals if info else LP_DECIMALS)
        return price * amount / scale

    def rate(self, term: Term) -> Fraction:
        return Fraction(self.tax.short_rate if term == "short" else self.tax.long_rate)

    def cost_of(self, g: Gains) -> Fraction:
        """The tax on net gains, by term; a net loss saves tax only when the book harvests losses."""
        tax = g.short * self.rate("short") + g.long * self.rate("long")
        return tax if self.tax.harvest_losses else max(tax, Fraction(0))

    def chooser(self, price: Fraction, at: Moment, asset: str) -> Chooser:
        """Specific identification: the lots whose sale at `price` costs the least tax per unit
        first (losses first, then the smallest gains at their rate; older lots on ties)."""

        def tax_per_unit(lot: Lot) -> Fraction:
            unit_price = self.value(asset, 1, price)
            return (unit_price - lot.unit_cost) * self.rate(
                term_of(lot.acquired, at, self.tax.long_term_days)
            )

        def choose(lots: Sequence[Lot]) -> Sequence[Lot]:
            return sorted(lots, key=tax_per_unit)

        return choose

    def _take(
        self, ledger: Ledger, asset: str, amount: int, price: Fraction, at: Moment
    ) -> tuple[Ledger, tuple[Piece, ...]]:
        chooser = self.chooser(price, at, asset) if self.tax.method == "specific" else None
        return ledger.take(asset, amount, self.tax.method, chooser)

    def apply(self, ledger: Ledger, event: Event) -> tuple[Ledger, Applied]:
        """The ledger after one event, and what the event did.

        Raises:
            LedgerShort: the event takes more of an asset than the ledger holds.
        """
        if isinstance(event, Transfer):
            return self._transfer(ledger, event)
        disposals: list[Disposal] = []
        opened: list[Lot] = []
        for op in event.ops:
            ledger, sold, new = self._op(ledger, op, event)
            disposals += sold
            opened += new
        return ledger, Applied(event, tuple(disposals), tuple(opened))

    def _transfer(self, ledger: Ledger, t: Transfer) -> tuple[Ledger, Applied]:
        if t.kind == "withdrawal":
            ledger, pieces = self._take(ledger, t.asset, t.amount, t.quote.price, t.at)
            return ledger, Applied(t, (), (), pieces)
        cost = t.basis if t.basis is not None else self.value(t.asset, t.amount, t.quote.price)
        source = f"deposit {t.tx_hash} at block {t.at.block}: " + (
            "basis given by the owner" if t.basis is not None else f"priced {t.quote.source}"
        )
        ledger = ledger.acquire(t.asset, t.amount, cost, t.acquired or t.at, source, self.label(t.asset))
        return ledger, Applied(t, (), (ledger.lots[t.asset][-1],))

    def _op(self, ledger: Ledger, op: OpFlow, bundle: Bundle) -> tuple[Ledger, list[Disposal], list[Lot]]:
        at, quotes = bundle.at, bundle.quotes
        spent = {a: n for a, n in op.spent.items() if n > 0}
        received = {a: n for a, n in op.received.items() if n > 0}
        unpriced = sorted(self.label(a) for a in (*spent, *received) if a not in quotes)
        if unpriced:
            raise LedgerShort(f"{bundle.ref}: no price for {', '.join(unpriced)} at block {at.block}")
        worth_spent = {a: self.value(a, n, quotes[a].price) for a, n in spent.items()}
        worth_received = {a: self.value(a, n, quotes[a].price) for a, n in received.items()}
        taken: dict[str, tuple[Piece, ...]] = {}
        for asset, amount in spent.items():
            ledger, taken[asset] = self._take(ledger, asset, amount, quotes[asset].price, at)
        if self.tax.lp == "non-taxable" and op.kind in CARRIED:
            return self._carry(ledger, taken, worth_spent, received, worth_received, bundle)
        disposals: list[Disposal] = []
        total_spent, total_received = sum(worth_spent.values()), sum(worth_received.values())
        for asset, pieces in taken.items():
            share = worth_spent[asset] / total_spent if total_spent else Fraction(1, len(taken))
            disposals += dispose(pieces, total_received * share, at, self.tax.long_term_days, bundle.ref)
        opened = []
        for asset, amount in received.items():
            source = f"{bundle.ref}: {op.kind}, priced {quotes[asset].source}"
            ledger = ledger.acquire(asset, amount, worth_received[asset], at, source, self.label(asset))
            opened.append(ledger.lots[asset][-1])
        return ledger, disposals, opened

    def _carry(
        self,
        ledger: Ledger,
        taken: Mapping[str, tuple[Piece, ...]],
        worth_spent: Mapping[str, Fraction],
        received: Mapping[str, int],
        worth_received: Mapping[str, Fraction],
        bundle: Bundle,
    ) -> tuple[Ledger, list[Disposal], list[Lot]]:
        """Each piece that went in comes out as a part of each asset received: its basis split by
        the received assets' values, its amount share by its own value; the holding start kept."""
        pieces = [p for ps in taken.values() for p in ps]
        # the value each piece put in, at the plan's prices
        weights = [
            worth_spent[p.asset] * p.amount / sum(q.amount for q in taken[p.asset])
            if worth_spent[p.asset]
            else Fraction(0)
            for p in pieces
        ]
        if not any(weights):
            weights = [Fraction(p.amount) for p in pieces]
        # the last piece with weight takes the rounding remainder (so it gets at least one unit)
        last = max(i for i, w in enumerate(weights) if w)
        whole = sum(weights)
        total_received = sum(worth_received.values())
        opened: list[Lot] = []
        for asset, amount in received.items():
            share = worth_received[asset] / total_received if total_received else Fraction(1, len(received))
            parts = [int(amount * w / whole) for w in weights]
            parts[last] += amount - sum(parts)
            orphan = Fraction(0)  # the basis of pieces too small to get a unit of this asset
            for i, p in enumerate(pieces):
                if parts[i] == 0:
                    orphan += p.cost * share
            for i, p in enumerate(pieces):
                if parts[i] == 0:
                    continue
                cost = p.cost * share + (orphan if i == last else 0)
                source = f"{bundle.ref}: carried from {p.lot_id} ({p.source})"
                ledger = ledger.acquire(asset, parts[i], cost, p.acquired, source, self.label(asset))
                opened.append(ledger.lots[asset][-1])
        return ledger, [], opened

    def replay(self, events: Iterable[Event], ledger: Ledger | None = None) -> Replay:
        """Every event in order, from an empty ledger (or `ledger`)."""
        ledger = ledger or Ledger()
        applied = []
        for event in events:
            ledger, done = self.apply(ledger, event)
            applied.append(done)
        return Replay(ledger, tuple(applied))


def view_rules(view: BookView) -> TaxRules:
    """The book's `[tax]` over the view's assets (the book must have `[tax]`)."""
    assert view.book.tax is not None
    numeraire = view.tokens[view.book.numeraire].address if view.book.numeraire in view.tokens else ""
    return TaxRules(view.book.tax, view_assets(view), numeraire)


@dataclass(frozen=True, slots=True)
class Replay:
    """The ledger after a history, and what each event did."""

    ledger: Ledger
    applied: tuple[Applied, ...] = field(default_factory=tuple)

    @property
    def disposals(self) -> list[Disposal]:
        return [d for a in self.applied for d in a.disposals]


def ordered_events(transfers: Iterable[Transfer], bundles: Iterable[Bundle]) -> list[Event]:
    """One history: by block; in a block, deposits, then bundles, then withdrawals.

    NOTE: the journal does not keep a bundle's place in its block; a bundle cannot spend a
    deposit of its own block (its plan was made before), nor a withdrawal of it what it made.
    """

    def key(e: Event) -> tuple[int, int, int]:
        if isinstance(e, Bundle):
            return (e.block, 1, e.intent_id)
        return (e.at.block, 0 if e.kind == "deposit" else 2, e.log_index)

    return sorted([*transfers, *bundles], key=key)
