"""BookViews without a chain: a made-up book, a synthetic snapshot that matches it, `value_book`.

The world is two pairs priced in USDC: WETH/USDC (1,000 WETH against 1,000 * price USDC) and
DAI/USDC (1,000,000 of each, so DAI is exactly 1 USDC). Sleeves are given as values in USDC
by label; the builder turns them into raw balances and LP and checks that the view values
them exactly as asked, so a test's weights are exact Fractions it can write down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from eth_utils.address import to_checksum_address

from bot.core.book import Book
from bot.core.snapshot import PairSnapshot, Snapshot, TokenInfo
from bot.core.valuation import Q112, BookView, History, value_book

Number = int | Fraction


def address(n: int) -> str:
    """A made-up checksummed address: `n` as 20 bytes."""
    return to_checksum_address("0x" + f"{n:040x}")


ZERO = address(0)
VAULT = address(0x1)
FACTORY = address(0xF1)
TOKENS = {
    "USDC": TokenInfo(address(0xA1), "USDC", 6),
    "WETH": TokenInfo(address(0xA2), "WETH", 18),
    "DAI": TokenInfo(address(0xA3), "DAI", 18),
}
PAIRS = {"WETH/USDC": address(0xB1), "DAI/USDC": address(0xB2)}
WETH_RESERVE = 1_000  # whole WETH in the WETH/USDC pair, whatever the price
DAI_RESERVE = 1_000_000  # whole DAI and whole USDC in the DAI/USDC pair
BLOCK = 1_000
TIMESTAMP = 1_700_000_000
DAY_S = 86_400


def make_book(
    sleeves: Sequence[Mapping[str, Any]],
    *,
    strategy: Any = None,
    buckets: Mapping[str, Any] | None = None,
    policy: Mapping[str, Any] | None = None,
) -> Book:
    """A valid book over the world's tokens and pairs, USDC as numeraire."""
    return Book.parse(book_raw(sleeves, strategy=strategy, buckets=buckets, policy=policy))


def book_raw(
    sleeves: Sequence[Mapping[str, Any]],
    *,
    strategy: Any = None,
    buckets: Mapping[str, Any] | None = None,
    policy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`make_book`'s book as the TOML data a book file would hold."""
    raw: dict[str, Any] = {
        "name": "views",
        "vault": VAULT,
        "numeraire": "USDC",
        "tokens": {symbol: info.address for symbol, info in TOKENS.items()},
        "pairs": dict(PAIRS),
        "policy": dict(policy or {"band": 0.05}),
        "buckets": dict(buckets or {}),
        "sleeves": [dict(s) for s in sleeves],
    }
    if strategy is not None:
        raw["strategy"] = strategy
    return raw


def _exact(value: Fraction, what: str) -> int:
    if value.denominator != 1:
        raise ValueError(f"{what}: {value} is not a whole number of base units; pick another value")
    return value.numerator


def _reserves(name: str, weth_price: Fraction) -> dict[str, int]:
    """Raw reserves by symbol of a pair of the world."""
    if name == "WETH/USDC":
        usdc = WETH_RESERVE * weth_price * 10**6
        return {"WETH": WETH_RESERVE * 10**18, "USDC": _exact(usdc, f"USDC reserve at {weth_price}")}
    return {"DAI": DAI_RESERVE * 10**18, "USDC": DAI_RESERVE * 10**6}


def _pool_value(name: str, weth_price: Fraction) -> Fraction:
    """A pair's whole value in USDC (both sides are worth the same)."""
    return 2 * Fraction(_reserves(name, weth_price)["USDC"], 10**6)


def _price(symbol: str, weth_price: Fraction) -> Fraction:
    return weth_price if symbol == "WETH" else Fraction(1)


def make_snapshot(
    book: Book,
    values: Mapping[str, Number],
    *,
    weth_price: Number = 3000,
    held_at: Number | None = None,
    block: int = BLOCK,
    timestamp: int = TIMESTAMP,
    cumulatives: Mapping[str, tuple[int, int]] | None = None,
    weth_is_token0: bool = False,
    symbols: Mapping[str, str] | None = None,
) -> Snapshot:
    """The world at one block, the vault holding `values` (USDC by sleeve label).

    Args:
        held_at: the WETH price `values` are given at (default `weth_price`); the raw holdings
            and the pools' LP supply are fixed at it, so other prices only move the reserves.
        cumulatives: (price0CumulativeLast, price1CumulativeLast) by pair name; each pair is
            synced at `timestamp` (blockTimestampLast), so these are its cumulatives now.
        weth_is_token0: order WETH/USDC as a pair whose WETH address sorts first would be.
        symbols: the chain's symbol of a token where it differs from the book's name for it.
    """
    price = Fraction(weth_price)
    at = price if held_at is None else Fraction(held_at)
    infos = {
        symbol: TokenInfo(info.address, (symbols or {}).get(symbol, info.symbol), info.decimals)
        for symbol, info in TOKENS.items()
    }
    balances = {info.address: 0 for info in infos.values()}
    holder_lp = dict.fromkeys(PAIRS, 0)
    for sleeve in book.sleeves:
        value = Fraction(values.get(sleeve.label, 0))
        if sleeve.pair is not None:
            # one LP base unit is worth one USDC base unit: supply is the pool's value in them
            if value >= _pool_value(sleeve.pair, at):
                raise ValueError(f"{sleeve.label}: {value} is more than the whole pool")
            holder_lp[sleeve.pair] = _exact(value * 10**6, sleeve.label)
        else:
            assert sleeve.token is not None
            info = infos[sleeve.token]
            raw = value / _price(sleeve.token, at) * 10**info.decimals
            balances[info.address] = _exact(raw, sleeve.label)
    pairs = []
    for name, pair_address in PAIRS.items():
        reserves = _reserves(name, price)
        first, second = book.pair_symbols(name)
        if name == "WETH/USDC" and not weth_is_token0:
            first, second = second, first
        c0, c1 = (cumulatives or {}).get(name, (0, 0))
        pairs.append(
            PairSnapshot(
                address=pair_address,
                factory=FACTORY,
                fee_to=ZERO,
                token0=infos[first],
                token1=infos[second],
                reserve0=reserves[first],
                reserve1=reserves[second],
                block_timestamp_last=timestamp,
                total_supply=_exact(_pool_value(name, at) * 10**6, name),
                k_last=0,
                price0_cumulative_last=c0,
                price1_cumulative_last=c1,
                holder_lp=holder_lp[name],
            )
        )
    return Snapshot(
        block_number=block,
        block_timestamp=timestamp,
        base_fee_wei=10**9,
        chain_id=31337,
        holder=VAULT,
        holder_native_wei=10**18,
        pairs=tuple(pairs),
        tokens={info.address: info for info in infos.values()},
        balances=balances,
    )


def price_path(
    book: Book,
    values: Mapping[str, Number],
    path: Sequence[tuple[int, Number]],
    *,
    block: int = BLOCK,
    weth_is_token0: bool = False,
) -> list[Snapshot]:
    """Snapshots at (timestamp, WETH price) points, oldest first, with consistent cumulative prices.

    The pairs are synced at each point, so the TWAP between two consecutive snapshots is the
    earlier one's price (as Uniswap V2 accumulates the price that held over the interval).
    The holdings are `values` at the last price, held throughout; block numbers count up to
    `block` at the last point.
    """
    cumulative = dict.fromkeys(PAIRS, (0, 0))
    snapshots: list[Snapshot] = []
    for i, (timestamp, weth_price) in enumerate(path):
        if snapshots:
            before = snapshots[-1]
            elapsed = timestamp - before.block_timestamp
            for pair in before.pairs:
                name = book.pair_names[pair.address]
                c0, c1 = cumulative[name]
                cumulative[name] = (
                    c0 + pair.reserve1 * Q112 // pair.reserve0 * elapsed,
                    c1 + pair.reserve0 * Q112 // pair.reserve1 * elapsed,
                )
        snapshots.append(
            make_snapshot(
                book,
                values,
                weth_price=weth_price,
                held_at=path[-1][1],
                block=block - len(path) + 1 + i,
                timestamp=timestamp,
                cumulatives=cumulative,
                weth_is_token0=weth_is_token0,
            )
        )
    return snapshots


def make_view(
    book: Book,
    values: Mapping[str, Number],
    *,
    history: History | None = None,
    past: Sequence[Snapshot] = (),
    **snapshot: Any,
) -> BookView:
    """`book` valued with the vault holding `values` (USDC by sleeve label); checks they are exact."""
    view = value_book(book, make_snapshot(book, values, **snapshot), history=history, past=past)
    for sleeve in view.sleeves:
        wanted = Fraction(values.get(sleeve.label, 0))
        assert sleeve.value == wanted, f"{sleeve.label} valued {sleeve.value}, not {wanted}"
    return view
