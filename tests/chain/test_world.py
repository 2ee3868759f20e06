"""The world: real V2 bytecode, our tokens, realistic prices, a funded holder, feeTo on demand."""

from __future__ import annotations

from fractions import Fraction

import pytest
from eth_utils import keccak, to_checksum_address

from anvil.artifacts import PAIR_INIT_CODE_HASH
from anvil.world import PAIRS, TOKENS, WETH, set_fee_to
from bot.cli.main import main
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


def test_world_move_moves_a_tokens_price_in_every_pair_by_the_percentage(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["world", "move", "LINK", "-20", "--rpc", world.node.url]) == 0
    out = capsys.readouterr().out
    assert "LINK/WETH: LINK" in out
    state = world.pair_state("LINK/WETH")
    link_first = world.book.pairs["LINK/WETH"].token0 == "LINK"
    price = (
        Fraction(state.reserve1, state.reserve0) if link_first else Fraction(state.reserve0, state.reserve1)
    )
    seeded = Fraction(15, 3000)  # LINK at 15 USD, WETH at 3,000
    assert abs(price / seeded - Fraction(8, 10)) < Fraction(1, 1000)  # -20%, the fee's rounding apart
    assert main(["world", "move", "NOPE", "5", "--rpc", world.node.url]) == 2
    assert "no token 'NOPE'" in capsys.readouterr().err


def test_a_served_world_listens_on_its_port_and_mines_on_its_block_time(tmp_path: object) -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from web3 import Web3

    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        str(Path(sys.executable).parent / "ammkeeper"),
        "world",
        "--serve",
        "--port",
        str(port),
        "--block-time",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]  # where the files are
        assert any("keeper key:" in line and "password in" in line for line in lines), lines
        assert f"serving the world at http://127.0.0.1:{port}" in process.stdout.readline()
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
        first = w3.eth.block_number
        time.sleep(2.5)
        assert w3.eth.block_number >= first + 2  # a block a second, with nobody sending
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
