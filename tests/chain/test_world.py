"""The world: real V2 bytecode, our tokens, realistic prices, a funded holder, feeTo on demand."""

from __future__ import annotations

from fractions import Fraction

from eth_utils import keccak, to_checksum_address

from anvil.artifacts import PAIR_INIT_CODE_HASH
from anvil.world import PAIRS, TOKENS, WETH, set_fee_to
from tests.chain.conftest import World


def _create2_pair(factory: str, token_a: str, token_b: str) -> str:
    t0, t1 = sorted([token_a.lower(), token_b.lower()])
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + bytes.fromhex(PAIR_INIT_CODE_HASH[2:]))
    return to_checksum_address(raw[12:])


def test_pairs_sit_where_the_mainnet_init_code_hash_puts_them(world: World) -> None:
    book = world.book
    assert len(book.pairs) >= 6
    for name, entry in book.pairs.items():
        a, b = name.split("/")
        assert entry.address == _create2_pair(
            book.dex.factory, book.tokens[a].address, book.tokens[b].address
        )


def test_router02_quotes_through_our_pairs(world: World) -> None:
    # Router02's pairFor embeds the init code hash: a quote only works if our pairs match it
    t = world.book.tokens
    path = [t["USDC"].address, t["WETH"].address, t["WBTC"].address]
    amounts = world.router.functions.getAmountsOut(10_000 * 10**6, path).call()
    assert len(amounts) == 3 and amounts[-1] > 0


def test_tokens_have_the_decimals_the_book_says(world: World) -> None:
    specs = {s.symbol: s for s in (WETH, *TOKENS)}
    for symbol, entry in world.book.tokens.items():
        token = world.token(symbol)
        assert token.functions.decimals().call() == entry.decimals == specs[symbol].decimals
    assert {e.decimals for e in world.book.tokens.values()} >= {6, 8, 18}
    assert world.book.tokens["FOT"].transfer_fee_bps > 0


def test_prices_are_the_seeded_ones(world: World) -> None:
    specs = {s.symbol: s for s in (WETH, *TOKENS)}
    for spec in PAIRS:
        entry = world.book.pairs[f"{spec.token_a}/{spec.token_b}"]
        r0, r1, _ = world.pair(entry.address).functions.getReserves().call()
        s0, s1 = specs[entry.token0], specs[entry.token1]
        price = Fraction(r1, 10**s1.decimals) / Fraction(r0, 10**s0.decimals)  # token1 per token0
        expected = s0.usd / s1.usd
        # the fee-on-transfer token reaches the pair 1% short; everything else is exact to rounding
        tolerance = Fraction(2, 100) if "FOT" in (s0.symbol, s1.symbol) else Fraction(1, 10**6)
        assert abs(price / expected - 1) <= tolerance, spec


def test_the_holder_has_lp_in_every_pair_and_idle_tokens(world: World, roles: dict[str, str]) -> None:
    for entry in world.book.pairs.values():
        assert world.pair(entry.address).functions.balanceOf(roles["holder"]).call() > 0
    for symbol in ("WETH", "USDC", "WBTC", "DAI"):
        assert world.token(symbol).functions.balanceOf(roles["holder"]).call() > 0


def test_fee_to_can_be_turned_on_and_off(world: World, roles: dict[str, str]) -> None:
    assert int(world.factory.functions.feeTo().call(), 16) == 0
    set_fee_to(world.node.url, world.book, on=True)
    assert world.factory.functions.feeTo().call() == roles["treasury"]
    set_fee_to(world.node.url, world.book, on=False)
    assert int(world.factory.functions.feeTo().call(), 16) == 0
