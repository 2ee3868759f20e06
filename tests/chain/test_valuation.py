"""The world's example book valued from real snapshots, checked against reads of the pairs themselves.

Every expected figure here is computed from plain web3 reads of the pair and token contracts
(reserves, totalSupply, balanceOf, the cumulative prices), not from the snapshot the valuation saw.
"""

from __future__ import annotations

import asyncio
import math
import tomllib
from fractions import Fraction

import pytest

from anvil.world import ensure_world
from bot.chain import rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.core import amm
from bot.core.book import Book
from bot.core.errors import BadInput
from bot.core.snapshot import Snapshot
from bot.core.valuation import VALUE_SCALE, value_book
from tests.chain.conftest import World

Q112 = 2**112


@pytest.fixture(scope="module")
def book() -> Book:
    return Book.load(ensure_world().config)


def read(world: World, book: Book) -> Snapshot:
    """The book's pairs and tokens at the head, for the book's vault."""

    async def go() -> Snapshot:
        async with rpc.connect(world.node.url) as w3:
            tokens = [t.address for t in book.tokens.values()]
            return await SnapshotReader(w3).read(list(book.pairs.values()), book.vault, tokens)

    return asyncio.run(go())


def mine(world: World, seconds: int = 0) -> None:
    if seconds:
        world.node.rpc("evm_increaseTime", seconds)
    world.node.rpc("evm_mine")


def swap(world: World, name: str, symbol_in: str, amount_in: int, who: str) -> None:
    """Swap `amount_in` of `symbol_in` for the largest output the pair allows (transfer, then swap)."""
    entry = world.book.pairs[name]
    zero_for_one = entry.token0 == symbol_in
    out, _ = world.pair_state(name).after_swap(amount_in, zero_for_one)
    world.send(world.token(symbol_in).functions.transfer(entry.address, amount_in), who)
    outs = (0, out) if zero_for_one else (out, 0)
    world.send(world.pair(name).functions.swap(*outs, who, b""), who)


def reserves_of(world: World, name: str, block: int) -> dict[str, int]:
    """The pair's reserves by symbol at `block`."""
    entry = world.book.pairs[name]
    r0, r1, _ = world.pair(name).functions.getReserves().call(block_identifier=block)
    return {entry.token0: r0, entry.token1: r1}


def weth_in_usdc(world: World, block: int) -> Fraction:
    """USDC per whole WETH at the WETH/USDC pair's reserves."""
    r = reserves_of(world, "WETH/USDC", block)
    return Fraction(r["USDC"], 10**6) / Fraction(r["WETH"], 10**18)


def test_sleeves_hold_what_the_chain_says_and_add_up(world: World, book: Book) -> None:
    mine(world)  # a block past the fixture's evm_revert (see test_snapshot's base fee NOTE)
    snap = read(world, book)
    view = value_book(book, snap)
    n = snap.block_number
    vault = book.vault
    assert vault == world.book.accounts["vault"]
    assert sum(s.value for s in view.sleeves) == view.total > 0
    assert sum(s.weight for s in view.sleeves) == 1
    assert sum(b.target for b in view.buckets) == Fraction(11, 100)  # stables: USDC 0.08 + DAI 0.03
    weth = world.book.tokens["WETH"]
    assert view.prices[weth.address].value == weth_in_usdc(world, n)
    for s in view.sleeves:
        if s.sleeve.pair is not None:
            c = world.pair(s.sleeve.pair).functions
            lp = c.balanceOf(vault).call(block_identifier=n)
            r0, r1, _ = c.getReserves().call(block_identifier=n)
            supply = c.totalSupply().call(block_identifier=n)
            a0, a1 = amm.lp_share_amounts(lp, r0, r1, supply)
            entry = world.book.pairs[s.sleeve.pair]
            t0, t1 = world.book.tokens[entry.token0].address, world.book.tokens[entry.token1].address
            assert s.lp == lp > 0, s.label
            assert s.amounts == {t0: a0, t1: a1}, s.label
            assert s.position is not None, s.label  # the world's book gives every LP sleeve its entry
        else:
            assert s.sleeve.token is not None
            token = world.book.tokens[s.sleeve.token].address
            balance = world.token(token).functions.balanceOf(vault).call(block_identifier=n)
            assert s.amounts == {token: balance} and balance > 0, s.label
            assert s.lp == 0 and s.position is None
    # the vault also holds LP in FOT/WETH, which no sleeve covers: valued aside, not in the total
    assert set(view.unsleeved) == {"FOT/WETH"}
    c = world.pair("FOT/WETH").functions
    fot = reserves_of(world, "FOT/WETH", n)
    lp, supply = c.balanceOf(vault).call(block_identifier=n), c.totalSupply().call(block_identifier=n)
    fot_amount, weth_amount = (lp * fot[s] // supply for s in ("FOT", "WETH"))
    weth_price = weth_in_usdc(world, n)
    fot_price = Fraction(fot["WETH"], fot["FOT"]) * weth_price  # both 18 decimals
    expected = (fot_amount * fot_price + weth_amount * weth_price) / 10**18
    # values are floored to VALUE_PLACES decimals of the numeraire
    assert view.unsleeved["FOT/WETH"] == Fraction(int(expected * VALUE_SCALE), VALUE_SCALE) > 0
    assert expected - view.unsleeved["FOT/WETH"] < Fraction(1, VALUE_SCALE)


def cumulative_weth_in_usdc(world: World, block: int) -> int:
    """WETH/USDC's cumulative price of WETH (UQ112x112 seconds) as if synced at `block`.

    UniswapV2OracleLibrary.currentCumulativePrices: the stored counter plus the current
    reserves' price times the seconds since the pair's last update.
    """
    entry = world.book.pairs["WETH/USDC"]
    c = world.pair("WETH/USDC").functions
    r0, r1, last = c.getReserves().call(block_identifier=block)
    now = world.w3.eth.get_block(block)["timestamp"]
    if entry.token0 == "WETH":
        stored, counterfactual = c.price0CumulativeLast().call(block_identifier=block), (r1 << 112) // r0
    else:
        stored, counterfactual = c.price1CumulativeLast().call(block_identifier=block), (r0 << 112) // r1
    return int(stored + counterfactual * ((now - last) % 2**32))


def test_twap_is_uniswaps_oracle_between_two_snapshots(
    world: World, book: Book, roles: dict[str, str]
) -> None:
    mine(world)
    a = read(world, book)
    mine(world, 600)
    usdc = world.book.tokens["USDC"].address
    usdc_reserve = reserves_of(world, "WETH/USDC", world.w3.eth.block_number)["USDC"]
    swap(world, "WETH/USDC", "USDC", usdc_reserve // 20, roles["whale"])  # WETH up about 10%
    mine(world, 900)
    b = read(world, book)
    weth = world.book.tokens["WETH"].address
    elapsed = b.block_timestamp - a.block_timestamp
    assert elapsed >= 1500
    per_base_unit = Fraction(
        cumulative_weth_in_usdc(world, b.block_number) - cumulative_weth_in_usdc(world, a.block_number),
        elapsed * Q112,
    )
    expected = per_base_unit * Fraction(10**18, 10**6)

    twap = value_book(book, b, past=[a]).twap[weth]
    assert twap.value == expected
    assert twap.kind.startswith("twap") and twap.kind == f"twap {a.block_number}-{b.block_number}"
    assert twap.route == (world.book.pairs["WETH/USDC"].address,)
    # the average lies between the price before the swap and after it, and is neither
    before, after = weth_in_usdc(world, a.block_number), weth_in_usdc(world, b.block_number)
    assert before < twap.value < after
    assert after / before > Fraction(109, 100)
    assert value_book(book, b, past=[a]).twap[usdc].value == 1

    spot = value_book(book, b).twap[weth]
    assert spot.kind.startswith("spot")
    assert spot.value == after


def test_a_pair_that_holds_other_tokens_than_its_name_is_refused(world: World, book: Book) -> None:
    mine(world)
    snap = read(world, book)
    raw = tomllib.loads(ensure_world().config.read_text())
    pairs = raw["pairs"]
    pairs["WETH/USDC"], pairs["WBTC/WETH"] = pairs["WBTC/WETH"], pairs["WETH/USDC"]
    swapped = Book.parse(raw)  # the file alone cannot tell: both are pairs of known tokens
    address = world.book.pairs["WBTC/WETH"].address
    with pytest.raises(
        BadInput, match=rf"^pair WETH/USDC \({address}\) holds (WBTC/WETH|WETH/WBTC) "
    ) as caught:
        value_book(swapped, snap)
    assert str(caught.value).endswith("not WETH/USDC")


def weth_usdc_position_inputs(world: World, book: Book, block: int) -> tuple[Fraction, Fraction, Fraction]:
    """(lp_value, sqrt(k) per LP at entry, sqrt(k) per LP now) of the vault's WETH/USDC LP, from the chain.

    The entry is the book's deposited amounts over the LP held (the book gives no entry_lp).
    """
    sleeve = next(s for s in book.sleeves if s.pair == "WETH/USDC")
    assert sleeve.entry is not None and sleeve.entry_lp is None
    c = world.pair("WETH/USDC").functions
    lp = c.balanceOf(book.vault).call(block_identifier=block)
    supply = c.totalSupply().call(block_identifier=block)
    r = reserves_of(world, "WETH/USDC", block)
    lp_value = Fraction(lp * r["WETH"] // supply, 10**18) * weth_in_usdc(world, block) + Fraction(
        lp * r["USDC"] // supply, 10**6
    )
    entry_weth = int(Fraction(sleeve.entry["WETH"]) * 10**18)
    entry_usdc = int(Fraction(sleeve.entry["USDC"]) * 10**6)
    per_lp_entry = Fraction(math.isqrt(entry_weth * entry_usdc), lp)
    per_lp_now = amm.sqrt_k_per_share(r["WETH"], r["USDC"], supply)
    return floored(lp_value), per_lp_entry, per_lp_now


def floored(value: Fraction) -> Fraction:
    """A value as `value_book` gives it: floored to VALUE_PLACES decimals of the numeraire."""
    return Fraction(value.numerator * VALUE_SCALE // value.denominator, VALUE_SCALE)


def test_fee_income_is_the_growth_of_sqrt_k_per_lp(world: World, book: Book, roles: dict[str, str]) -> None:
    mine(world)
    fresh = read(world, book)
    fresh_position = value_book(book, fresh).sleeve("WETH/USDC").position
    assert fresh_position is not None
    # the world deposited exactly the book's entry: no fees yet, up to integer rounding
    assert abs(fresh_position.fee_income) < fresh_position.lp_value / 10**12
    fresh_state = world.pair_state("WETH/USDC")
    whale = roles["whale"]
    for _ in range(3):
        r = reserves_of(world, "WETH/USDC", world.w3.eth.block_number)
        weth_before = world.token("WETH").functions.balanceOf(whale).call()
        swap(world, "WETH/USDC", "USDC", r["USDC"] // 5, whale)
        bought = world.token("WETH").functions.balanceOf(whale).call() - weth_before
        swap(world, "WETH/USDC", "WETH", bought, whale)  # and back: the price returns near where it was
    mine(world)
    snap = read(world, book)
    n = snap.block_number
    position = value_book(book, snap).sleeve("WETH/USDC").position
    assert position is not None
    assert abs(weth_in_usdc(world, n) / weth_in_usdc(world, fresh.block_number) - 1) < Fraction(1, 100)

    lp_value, per_lp_entry, per_lp_now = weth_usdc_position_inputs(world, book, n)
    assert position.lp_value == lp_value == floored(lp_value)
    assert position.fee_income == lp_value * (1 - per_lp_entry / per_lp_now)
    # six swaps of about a fifth of the pool, 0.3% each: roughly 0.15% of the LP's value
    assert Fraction(1, 1000) < position.fee_income / lp_value < Fraction(3, 1000)
    # the same as the pair's own sqrt(k)-per-share growth since the fresh world, to rounding
    growth = amm.fee_growth(fresh_state, world.pair_state("WETH/USDC"))
    assert abs(position.fee_income / lp_value - (1 - 1 / (1 + growth))) < Fraction(1, 10**12)
    assert position.pnl_vs_hold == position.il_value + position.fee_income


def test_il_is_the_closed_form_once_fees_are_taken_out(
    world: World, book: Book, roles: dict[str, str]
) -> None:
    mine(world)
    r = reserves_of(world, "WETH/USDC", world.w3.eth.block_number)
    # WETH up ~20%: USDC reserve times sqrt(1.2), a little more for the fee
    amount_in = int(r["USDC"] * (math.sqrt(1.2) - 1) * 1.003)
    swap(world, "WETH/USDC", "USDC", amount_in, roles["whale"])
    mine(world)
    snap = read(world, book)
    n = snap.block_number
    position = value_book(book, snap).sleeve("WETH/USDC").position
    assert position is not None

    entry_price = Fraction(150_000, 50)  # the book's entry: 50 WETH and 150,000 USDC
    k = weth_in_usdc(world, n) / entry_price
    assert abs(k - Fraction(6, 5)) < Fraction(1, 1000)
    # price_move is token0's price in token1; IL is the same for k and 1/k
    token0_is_weth = world.book.pairs["WETH/USDC"].token0 == "WETH"
    assert position.price_move + 1 == (k if token0_is_weth else 1 / k)
    closed_form = amm.impermanent_loss(float(k))
    assert -0.0042 < closed_form < -0.0041
    # NOTE: `il` leaves out what fees added (it values the LP at its entry sqrt(k) per share),
    # so it is the fee-free closed form up to integer rounding, far tighter than 1e-4; the
    # gross result versus holding is the closed form plus the fee share, so above it
    assert abs(float(position.il) - closed_form) < 1e-9
    assert position.fee_income > 0
    gross = position.pnl_vs_hold / position.hold_value
    assert gross > position.il
    assert gross - position.il == position.fee_income / position.hold_value
    assert position.pnl_vs_hold == position.il_value + position.fee_income
    assert position.pnl_vs_hold == position.lp_value - position.hold_value

    lp_value, per_lp_entry, per_lp_now = weth_usdc_position_inputs(world, book, n)
    hold_value = floored(50 * weth_in_usdc(world, n) + 150_000)
    assert position.hold_value == hold_value
    assert position.il_value == lp_value * per_lp_entry / per_lp_now - hold_value
