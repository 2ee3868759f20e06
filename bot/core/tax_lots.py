"""Cost-basis lots and disposals: which lots a sale takes, and its gain. Pure, exact.

Amounts are base units (int); costs, proceeds and gains are numeraire values as exact
Fractions. A lot that is partly sold splits its cost in proportion to the amount, exactly, so
the open basis plus the basis of every disposal is always the basis acquired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Literal, get_args

from bot.core.book import Moment, TaxMethod
from bot.core.errors import KeeperError

Method = TaxMethod
METHODS: tuple[str, ...] = get_args(TaxMethod)
Term = Literal["short", "long"]
TERMS: tuple[Term, Term] = ("short", "long")
DAY_S = 86_400


class LedgerShort(KeeperError):
    """A sale or a transfer out takes more of an asset than the ledger's open lots hold: the
    ledger misses an acquisition (a deposit it has not seen, a bundle from another journal)."""


@dataclass(frozen=True, slots=True)
class Lot:
    """What is left of one acquisition.

    Attributes:
        lot_id: `<asset label>#<n>`, n counting the asset's acquisitions from 1.
        asset: token or pair (LP) address.
        amount: base units still held.
        cost: basis of `amount`, in the numeraire.
        acquired: when the holding period started (a carried basis keeps the first one).
        source: where the acquisition came from and how it was priced (provenance).
    """

    lot_id: str
    asset: str
    amount: int
    cost: Fraction
    acquired: Moment
    source: str

    @property
    def unit_cost(self) -> Fraction:
        return self.cost / self.amount


# a part of a lot taken out of the ledger: its amount, its share of the basis, its holding start
Piece = Lot


@dataclass(frozen=True, slots=True)
class Disposal:
    """One piece of a lot sold: a row of Form 8949."""

    asset: str
    lot_id: str
    amount: int
    acquired: Moment
    sold: Moment
    proceeds: Fraction
    basis: Fraction
    term: Term
    event: str  # what sold it: "bundle #7 (0x…)", "withdrawal 0x…"

    @property
    def gain(self) -> Fraction:
        return self.proceeds - self.basis


def term_of(acquired: Moment, sold: Moment, long_term_days: int) -> Term:
    """Long term when held more than `long_term_days` (IRS: "more than one year")."""
    return "long" if sold.timestamp - acquired.timestamp > long_term_days * DAY_S else "short"


# a chooser orders an asset's open lots for a sale (specific identification: the planner's choice)
Chooser = Callable[[Sequence[Lot]], Sequence[Lot]]


def ordered(lots: Sequence[Lot], method: Method, chooser: Chooser | None = None) -> Sequence[Lot]:
    """The order in which `method` sells an asset's lots (ties: the older lot first)."""
    match method:
        case "fifo":
            return lots
        case "lifo":
            return lots[::-1]
        case "hifo":
            # stable: equal unit costs keep their acquisition order
            return sorted(lots, key=lambda lot: -lot.unit_cost)
        case "specific":
            if chooser is None:
                raise ValueError("specific identification needs the lots named")
            return chooser(lots)


def by_ids(lot_ids: Sequence[str]) -> Chooser:
    """A chooser that takes the named lots, in that order."""

    def choose(lots: Sequence[Lot]) -> Sequence[Lot]:
        index = {lot.lot_id: lot for lot in lots}
        missing = [i for i in lot_ids if i not in index]
        if missing:
            raise LedgerShort(f"lots {', '.join(missing)} are not open")
        return [index[i] for i in lot_ids]

    return choose


@dataclass(frozen=True, slots=True)
class Ledger:
    """Open lots per asset, oldest first, and how many lots each asset has had (for ids)."""

    lots: Mapping[str, tuple[Lot, ...]] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)

    def held(self, asset: str) -> int:
        return sum(lot.amount for lot in self.lots.get(asset, ()))

    def basis(self, asset: str | None = None) -> Fraction:
        """Open basis of one asset, or of all."""
        assets = self.lots if asset is None else (asset,)
        return sum((lot.cost for a in assets for lot in self.lots.get(a, ())), Fraction(0))

    def open_lots(self) -> Iterable[Lot]:
        for lots in self.lots.values():
            yield from lots

    def acquire(
        self, asset: str, amount: int, cost: Fraction, acquired: Moment, source: str, label: str
    ) -> Ledger:
        """A new lot of `amount` (> 0) costing `cost` (>= 0)."""
        if amount <= 0:
            raise ValueError(f"a lot of {amount} base units")
        if cost < 0:
            raise ValueError(f"a lot costing {cost}")
        n = self.counts.get(asset, 0) + 1
        lot = Lot(f"{label}#{n}", asset, amount, cost, acquired, source)
        return Ledger({**self.lots, asset: (*self.lots.get(asset, ()), lot)}, {**self.counts, asset: n})

    def take(
        self, asset: str, amount: int, method: Method, chooser: Chooser | None = None
    ) -> tuple[Ledger, tuple[Piece, ...]]:
        """Take `amount` of `asset` out of its open lots in `method`'s order.

        Raises:
            LedgerShort: the open lots hold less than `amount`.
        """
        lots = self.lots.get(asset, ())
        held = sum(lot.amount for lot in lots)
        if amount > held:
            raise LedgerShort(f"{asset}: {amount} base units taken, the open lots hold {held}")
        left = amount
        taken: dict[str, int] = {}
        pieces: list[Piece] = []
        for lot in ordered(lots, method, chooser):
            if left == 0:
                break
            part = min(left, lot.amount)
            cost = lot.cost if part == lot.amount else lot.cost * part / lot.amount
            pieces.append(Piece(lot.lot_id, asset, part, cost, lot.acquired, lot.source))
            taken[lot.lot_id] = part
            left -= part
        if left:
            raise LedgerShort(f"{asset}: the named lots hold {amount - left} base units, {amount} were taken")
        remaining = []
        for lot in lots:
            part = taken.get(lot.lot_id, 0)
            if part < lot.amount:
                cost = lot.cost if part == 0 else lot.cost - lot.cost * part / lot.amount
                remaining.append(lot if part == 0 else replace(lot, amount=lot.amount - part, cost=cost))
        return Ledger({**self.lots, asset: tuple(remaining)}, self.counts), tuple(pieces)


def dispose(
    pieces: Sequence[Piece], proceeds: Fraction, sold: Moment, long_term_days: int, event: str
) -> list[Disposal]:
    """Sell `pieces` of one asset for `proceeds` in all, split by amount (exactly: the rows sum to it)."""
    total = sum(p.amount for p in pieces)
    rows = []
    for p in pieces:
        share = proceeds * p.amount / total
        rows.append(
            Disposal(
                p.asset, p.lot_id, p.amount, p.acquired, sold, share, p.cost,
                term_of(p.acquired, sold, long_term_days), event,
            )
        )  # fmt: skip
    return rows
