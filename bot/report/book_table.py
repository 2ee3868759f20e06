"""The book table: per pair reserves, price, LP held, the holder's share and its value. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from bot.core.amm import lp_share_amounts
from bot.core.pricing import Price, spot_prices
from bot.core.snapshot import Snapshot
from bot.core.units import LP_DECIMALS, fmt, to_units
from bot.report import console


@dataclass(frozen=True, slots=True)
class PairRow:
    """One pair of the book, amounts in whole tokens."""

    name: str
    address: str
    symbol0: str
    symbol1: str
    reserve0: Fraction
    reserve1: Fraction
    base: str  # the pair's price is of this token ...
    quote: str  # ... in this one: the numeraire, else the token fewer pairs away from it
    price: Fraction  # quote per base
    lp_held: Fraction
    share: Fraction  # of the pair's supply
    amount0: Fraction
    amount1: Fraction
    value: Fraction | None  # in the numeraire; None when a token has no route to it


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An idle token balance of the holder."""

    symbol: str
    address: str
    balance: Fraction
    value: Fraction | None


@dataclass(frozen=True, slots=True)
class BookTable:
    """The whole table, with the total value and the tokens that could not be priced."""

    block: int
    holder: str
    numeraire: str
    pairs: tuple[PairRow, ...]
    tokens: tuple[TokenRow, ...]
    total: Fraction
    unpriced: tuple[str, ...]


def _value(prices: Mapping[str, Price], *holdings: tuple[str, Fraction]) -> Fraction | None:
    if any(address not in prices for address, _ in holdings):
        return None
    return sum((prices[address].value * amount for address, amount in holdings), Fraction(0))


def book_table(snapshot: Snapshot, numeraire: str, names: Mapping[str, str] | None = None) -> BookTable:
    """Build the table for `snapshot`, valued in the token at address `numeraire`.

    Args:
        names: display names of pairs by address (e.g. from the address book).
    """
    names = names or {}
    prices = spot_prices(snapshot, numeraire)
    pair_rows = []
    for p in snapshot.pairs:
        held0, held1 = lp_share_amounts(p.holder_lp, p.reserve0, p.reserve1, p.total_supply)
        amount0, amount1 = to_units(held0, p.token0.decimals), to_units(held1, p.token1.decimals)
        reserve0, reserve1 = to_units(p.reserve0, p.token0.decimals), to_units(p.reserve1, p.token1.decimals)
        # one direction for every pair: in the token nearer the numeraire (the shorter route to it),
        # between equals in the cheaper one ("20 WETH per WBTC")
        rank = [
            (len(prices[t.address].route), prices[t.address].value)
            if t.address in prices
            else (99, Fraction(0))
            for t in (p.token0, p.token1)
        ]
        quote_is_0 = rank[0] < rank[1]
        pair_rows.append(
            PairRow(
                name=names.get(p.address, p.name),
                address=p.address,
                symbol0=p.token0.symbol,
                symbol1=p.token1.symbol,
                reserve0=reserve0,
                reserve1=reserve1,
                base=p.token1.symbol if quote_is_0 else p.token0.symbol,
                quote=p.token0.symbol if quote_is_0 else p.token1.symbol,
                price=reserve0 / reserve1 if quote_is_0 else reserve1 / reserve0,
                lp_held=to_units(p.holder_lp, LP_DECIMALS),
                share=Fraction(p.holder_lp, p.total_supply),
                amount0=amount0,
                amount1=amount1,
                value=_value(prices, (p.token0.address, amount0), (p.token1.address, amount1)),
            )
        )
    token_rows = []
    for address, balance in snapshot.balances.items():
        if balance == 0:
            continue
        info = snapshot.tokens[address]
        units = to_units(balance, info.decimals)
        token_rows.append(TokenRow(info.symbol, address, units, _value(prices, (address, units))))
    values = [r.value for r in pair_rows] + [r.value for r in token_rows]
    unpriced = sorted({snapshot.tokens[a].symbol for a in snapshot.tokens if a not in prices})
    return BookTable(
        block=snapshot.block_number,
        holder=snapshot.holder,
        numeraire=snapshot.tokens[numeraire].symbol if numeraire in snapshot.tokens else numeraire,
        pairs=tuple(pair_rows),
        tokens=tuple(token_rows),
        total=sum((v for v in values if v is not None), Fraction(0)),
        unpriced=tuple(unpriced),
    )


def grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """Rows under a header: the first column left-aligned, the rest right-aligned (drawn by rich,
    in colour, on a terminal: `console.styled`)."""
    if console.styled():
        return console.rich_grid(header, rows)
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        # the first column (names) left-aligned, numbers right-aligned
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def render(table: BookTable) -> str:
    """The table as text for a terminal."""
    n = table.numeraire
    out = [f"book of {table.holder} at block {table.block}, valued in {n}", ""]
    pair_rows = [
        [
            r.name,
            f"{fmt(r.reserve0, 2)} {r.symbol0}",
            f"{fmt(r.reserve1, 2)} {r.symbol1}",
            f"{fmt(r.price, 6)} {r.quote} per {r.base}",
            fmt(r.lp_held, 6),
            f"{fmt(r.share * 100, 4)}%",
            f"{fmt(r.amount0, 4)} {r.symbol0}",
            f"{fmt(r.amount1, 4)} {r.symbol1}",
            fmt(r.value, 2),
        ]
        for r in table.pairs
    ]
    header = [
        "pair",
        "reserve0",
        "reserve1",
        "price",
        "LP held",
        "share",
        "holder token0",
        "holder token1",
        n,
    ]
    out += grid(header, pair_rows)
    if table.tokens:
        out.append("")
        out += grid(
            ["idle", "balance", n], [[r.symbol, fmt(r.balance, 4), fmt(r.value, 2)] for r in table.tokens]
        )
    out += ["", f"total value: {fmt(table.total, 2)} {n}"]
    if table.unpriced:
        out.append(f"no route to {n} for: {', '.join(table.unpriced)} (left out of the total)")
    return "\n".join(out)


def as_json(table: BookTable) -> dict[str, Any]:
    """The table as JSON-ready data (decimal strings, exact to 18 places)."""

    def num(value: Fraction | None) -> str | None:
        return None if value is None else fmt(value, 18).replace(",", "")

    return {
        "block": table.block,
        "holder": table.holder,
        "numeraire": table.numeraire,
        "pairs": [
            {
                "name": r.name,
                "address": r.address,
                "reserve0": num(r.reserve0),
                "reserve1": num(r.reserve1),
                "price": num(r.price),
                "price_of": r.base,
                "price_in": r.quote,
                "lp_held": num(r.lp_held),
                "share": num(r.share),
                "amount0": num(r.amount0),
                "amount1": num(r.amount1),
                "value": num(r.value),
            }
            for r in table.pairs
        ],
        "tokens": [
            {"symbol": r.symbol, "address": r.address, "balance": num(r.balance), "value": num(r.value)}
            for r in table.tokens
        ],
        "total": num(table.total),
        "unpriced": list(table.unpriced),
    }
