"""The backtest's mirror of the vault's guard state equals the contract's: each poke's and each
bundle's observations, the cooldown's and the daily cap's counters, read back with guard_state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.chain import rpc
from bot.chain.contracts import compiled
from bot.chain.snapshot_reader import SnapshotReader
from bot.chain.vault import read_guards
from bot.core.book import Book
from bot.core.executor_ops import Swap, execute_calldata
from bot.core.snapshot import Snapshot
from bot.core.vault_guards import VaultGuards, price0_now
from tests.chain.books import write_book
from tests.chain.conftest import World

WINDOW_S = 600


def state(world: World, book: Book, block: int) -> tuple[Snapshot, VaultGuards]:
    async def go() -> tuple[Snapshot, VaultGuards]:
        async with rpc.connect(world.node.url) as w3:
            pairs = list(book.pairs.values())
            tokens = [t.address for t in book.tokens.values()]
            snapshot = await SnapshotReader(w3).read(pairs, book.vault, tokens, block)
            return snapshot, await read_guards(w3, book.vault, pairs, block)

    return asyncio.run(go())


def predicted(world: World, book: Book, block: int, pairs: list[str], bundle: bool) -> VaultGuards:
    """The guards after `block` as the mirror sees it: from the state of the block before, each
    pair observed at this block's time (and the counters, for a bundle)."""
    before, guards = state(world, book, block - 1)
    now = world.w3.eth.get_block(block)["timestamp"]
    if bundle:
        guards = guards.after_bundle(now)
    for address in pairs:
        _, cumulative = price0_now(before.pair(address), now)
        guards = guards.observed(address, cumulative, now)
    return guards


def test_pokes_and_bundles_move_the_guards_as_the_mirror_says(world: World, tmp_path: Path) -> None:
    book = Book.load(write_book(tmp_path))
    vault = world.w3.eth.contract(address=book.vault, abi=compiled("Executor").abi)
    owner, keeper = world.book.accounts["owner"], world.book.accounts["keeper"]
    world.send(vault.functions.set_guards(100, WINDOW_S, 3600, 2), owner)
    pairs = list(book.pairs.values())

    def poke(which: list[str]) -> int:
        receipt = world.send(vault.functions.poke(which), owner)
        return int(receipt["blockNumber"])

    def check(block: int, which: list[str], bundle: bool = False) -> VaultGuards:
        _, actual = state(world, book, block)
        assert predicted(world, book, block, which, bundle) == actual
        return actual

    first = check(poke(pairs), pairs)  # first observations fill both words
    assert all(first.observations[p][0] == first.observations[p][1] != 0 for p in pairs)
    again = check(poke(pairs[:2]), pairs[:2])  # too soon: nothing is written
    assert again.observations == first.observations
    world.node.rpc("evm_increaseTime", WINDOW_S + 5)
    world.node.rpc("evm_mine")
    later = check(poke(pairs[:3]), pairs[:3])  # the older word is replaced
    assert later.observations[pairs[0]] != first.observations[pairs[0]]
    assert later.observations[pairs[5]] == first.observations[pairs[5]]

    # a bundle: the cooldown's time, the day's count, and an observation of each pair it touches
    pair = world.book.pairs["WETH/USDC"]
    tiny = execute_calldata([Swap(pair.address, pair.token0 == "WETH", 10**12, 1)], 2**40, b"\x02" * 32)
    world.node.rpc("evm_increaseTime", WINDOW_S + 5)
    world.node.rpc("evm_mine")
    tx: dict[str, Any] = {"from": keeper, "to": vault.address, "data": "0x" + tiny.hex()}
    receipt = world.w3.eth.wait_for_transaction_receipt(world.w3.eth.send_transaction(tx))  # type: ignore[arg-type]
    assert receipt["status"] == 1
    after = check(int(receipt["blockNumber"]), [pair.address], bundle=True)
    assert (
        after.bundles_on_day == 1
        and after.last_bundle_at == world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    )
    # and the mirror's refusal now: cooling down
    assert "cools down" in (after.refusal([], after.last_bundle_at + 10) or "")
