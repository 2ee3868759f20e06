"""The whole book in one eth_call, against plain per-field reads; chunks; bad addresses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from anvil.world import set_fee_to
from bot.chain import rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.core.errors import BadInput, EmptyPair, LensFailed, NotAPair, RpcError, TokenWithoutDecimals
from bot.core.snapshot import Snapshot
from tests.chain.conftest import World


def read(
    url: str,
    pairs: Sequence[str],
    holder: str,
    tokens: Sequence[str] = (),
    block: int | str = "latest",
    **kw: Any,
) -> tuple[Snapshot, int]:
    """(snapshot, eth_calls made)."""

    async def go() -> tuple[Snapshot, int]:
        async with rpc.connect(url) as w3:
            reader = SnapshotReader(w3, **kw)
            return await reader.read(pairs, holder, tokens, block), reader.calls

    return asyncio.run(go())


def book_pairs(world: World) -> list[str]:
    return [entry.address for entry in world.book.pairs.values()]


def test_one_call_reads_what_per_field_calls_read(world: World, roles: dict[str, str]) -> None:
    holder = roles["holder"]
    # NOTE: anvil's evm_revert leaves its EVM env with the base fee of the reverted-away blocks
    # (BASEFEE disagrees with the header) until the next block; mine one so both agree again
    world.node.rpc("evm_mine")
    snap, calls = read(world.node.url, book_pairs(world), holder, [world.book.tokens["LINK"].address])
    assert calls == 1
    n = snap.block_number
    block = world.w3.eth.get_block(n)
    assert (snap.block_timestamp, snap.base_fee_wei, snap.chain_id) == (
        block["timestamp"],
        block["baseFeePerGas"],
        world.book.chain_id,
    )
    assert snap.holder_native_wei == world.w3.eth.get_balance(holder, n)
    assert [p.address for p in snap.pairs] == book_pairs(world)
    assert snap.errors == ()
    for p in snap.pairs:
        c = world.pair(p.address).functions
        r0, r1, ts = c.getReserves().call(block_identifier=n)
        assert (p.reserve0, p.reserve1, p.block_timestamp_last) == (r0, r1, ts)
        assert p.total_supply == c.totalSupply().call(block_identifier=n)
        assert p.k_last == c.kLast().call(block_identifier=n)
        assert p.price0_cumulative_last == c.price0CumulativeLast().call(block_identifier=n)
        assert p.price1_cumulative_last == c.price1CumulativeLast().call(block_identifier=n)
        assert p.holder_lp == c.balanceOf(holder).call(block_identifier=n) > 0
        assert p.factory == world.book.dex.factory
        assert p.state(world.book.dex.fee_bps) == world.pair_state(p.address)
        for info in (p.token0, p.token1):
            t = world.token(info.address).functions
            assert (info.symbol, info.decimals) == (t.symbol().call(), t.decimals().call())
    for symbol, entry in world.book.tokens.items():
        balance = world.token(entry.address).functions.balanceOf(holder).call(block_identifier=n)
        assert snap.balances[entry.address] == balance, symbol
        assert snap.tokens[entry.address].symbol == symbol


def test_an_older_block_is_read_as_it_was(world: World, roles: dict[str, str]) -> None:
    entry = world.book.pairs["WETH/USDC"]
    world.node.rpc("evm_mine")  # a block past any evm_revert: see the base fee NOTE above
    before, _ = read(world.node.url, [entry.address], roles["holder"])
    usdc = world.token("USDC")
    world.send(usdc.functions.transfer(entry.address, 5_000 * 10**6), roles["whale"])
    world.send(world.pair(entry.address).functions.sync(), roles["whale"])
    at_old, _ = read(world.node.url, [entry.address], roles["holder"], block=before.block_number)
    now, _ = read(world.node.url, [entry.address], roles["holder"])
    assert at_old == before
    assert now.block_number > before.block_number
    usdc_reserve = "reserve1" if entry.token1 == "USDC" else "reserve0"
    assert getattr(now.pairs[0], usdc_reserve) - getattr(before.pairs[0], usdc_reserve) == 5_000 * 10**6


def test_the_protocol_fee_switch_is_read_with_the_book(world: World, roles: dict[str, str]) -> None:
    pairs = book_pairs(world)
    off, _ = read(world.node.url, pairs, roles["holder"])
    set_fee_to(world.node.url, world.book, on=True)
    on, _ = read(world.node.url, pairs, roles["holder"])
    assert not any(p.fee_on for p in off.pairs)
    assert all(p.fee_on and p.fee_to == world.book.accounts["treasury"] for p in on.pairs)
    for p in on.pairs:
        assert p.state(world.book.dex.fee_bps) == world.pair_state(p.address)


def test_chunks_read_the_same_book_at_one_block(world: World, roles: dict[str, str]) -> None:
    whole, whole_calls = read(world.node.url, book_pairs(world), roles["holder"])
    chunked, chunked_calls = read(world.node.url, book_pairs(world), roles["holder"], max_pairs_per_call=2)
    assert (whole_calls, chunked_calls) == (1, 4)
    assert chunked == whole


def test_a_chunk_that_runs_out_of_gas_is_halved(world: World, roles: dict[str, str]) -> None:
    whole, _ = read(world.node.url, book_pairs(world), roles["holder"])
    # ~0.85M fixed plus ~47k a pair: seven pairs do not fit in 1M, two do
    halved, calls = read(world.node.url, book_pairs(world), roles["holder"], call_gas=1_000_000)
    assert calls > 1
    assert halved == whole


def test_a_call_gas_too_small_for_one_pair_is_a_clear_error(world: World, roles: dict[str, str]) -> None:
    with pytest.raises(LensFailed, match="needs more than 850000 gas"):
        read(world.node.url, book_pairs(world)[:1], roles["holder"], call_gas=850_000)


@pytest.fixture
def bad_addresses(world: World, roles: dict[str, str]) -> dict[str, str]:
    """An EOA, a token, a pair whose token has no decimals(), an empty pair, a hostile contract."""
    deployer = roles["deployer"]
    no_decimals = world.deploy("testing/NoDecimalsToken", 10**24, sender=deployer)
    weth = world.token("WETH")
    factory = world.factory
    world.send(factory.functions.createPair(no_decimals.address, weth.address), deployer)
    nd_pair = factory.functions.getPair(no_decimals.address, weth.address).call()
    world.send(weth.functions.deposit(), deployer, value=10**18)
    world.send(weth.functions.transfer(nd_pair, 10**18), deployer)
    world.send(no_decimals.functions.transfer(nd_pair, 10**21), deployer)
    world.send(world.pair(nd_pair).functions.mint(deployer), deployer)
    link, usdc = world.book.tokens["LINK"].address, world.book.tokens["USDC"].address
    world.send(factory.functions.createPair(link, usdc), deployer)
    return {
        "eoa": roles["attacker"],
        "token": world.book.tokens["DAI"].address,
        "no_decimals_pair": nd_pair,
        "no_decimals_token": no_decimals.address,
        "empty_pair": factory.functions.getPair(link, usdc).call(),
        "hostile": world.deploy("testing/HostilePair", sender=deployer).address,
    }


def test_bad_addresses_are_named_and_the_rest_of_the_book_is_read(
    world: World, roles: dict[str, str], bad_addresses: dict[str, str]
) -> None:
    bad = bad_addresses
    good = book_pairs(world)
    mixed = [
        bad["eoa"],
        good[0],
        bad["token"],
        bad["no_decimals_pair"],
        good[1],
        bad["empty_pair"],
        bad["hostile"],
    ]
    mixed += good[2:]
    snap, calls = read(world.node.url, mixed, roles["holder"], [bad["eoa"]])
    assert calls == 1
    assert [p.address for p in snap.pairs] == good
    errors = {(type(e), e.address): e for e in snap.errors}
    assert len(errors) == len(snap.errors) == 6
    assert "no code" in str(errors[NotAPair, bad["eoa"]])
    assert "token0()" in str(errors[NotAPair, bad["token"]])
    assert (EmptyPair, bad["empty_pair"]) in errors
    hostile = str(errors[NotAPair, bad["hostile"]])
    for call in ("token0()", "token1()", "getReserves()", "totalSupply()"):
        assert call in hostile  # gas bomb, dirty address, short answer, revert: each named
    assert bad["no_decimals_pair"] in str(errors[TokenWithoutDecimals, bad["no_decimals_token"]])
    # the EOA passed as an extra token is named as a token as well
    assert "has no code" in str(errors[TokenWithoutDecimals, bad["eoa"]])
    with pytest.raises(EmptyPair, match=bad["empty_pair"]):
        snap.pair(bad["empty_pair"])
    assert snap.pair(good[0]).address == good[0]


def test_malformed_input_is_refused_before_any_call(world: World, roles: dict[str, str]) -> None:
    with pytest.raises(BadInput, match="'0x1234' is not an address"):
        read(world.node.url, ["0x1234"], roles["holder"])
    with pytest.raises(BadInput, match="block 'tomorrow'"):
        read(world.node.url, book_pairs(world), roles["holder"], block="tomorrow")


def test_an_unreachable_endpoint_is_named_without_its_secrets(world: World, roles: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    url = f"http://user:hunter2@127.0.0.1:{port}/v3/SECRETKEY?apikey=ALSOSECRET"
    with pytest.raises(RpcError) as caught:
        read(url, book_pairs(world), roles["holder"])
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}" in message
    for secret in ("hunter2", "SECRETKEY", "ALSOSECRET", "user"):
        assert secret not in message
    assert caught.value.__cause__ is None
