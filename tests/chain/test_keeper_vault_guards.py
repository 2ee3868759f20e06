"""The keeper on a vault with its owner's guards on: it pokes what the TWAP guard needs, waits
the guard out, and then rebalances through it, to the wei."""

from __future__ import annotations

from pathlib import Path

from bot.chain.contracts import compiled
from bot.core.book import Book
from bot.core.executor_ops import Swap, execute_calldata
from bot.core.guards import midnight_utc
from bot.keeper.step import Step
from bot.tx.journal import Journal, default_path
from tests.chain.books import journal_records, vault_holdings
from tests.chain.conftest import World
from tests.chain.keeper_harness import drive, keeper_book

WINDOW_S = 600


def _count(steps: list[Step], action: str) -> int:
    return sum(s.action == action for s in steps)


def test_the_keeper_pokes_a_guarded_vault_waits_out_its_window_then_rebalances(
    world: World, tmp_path: Path
) -> None:
    vault = world.w3.eth.contract(address=world.book.accounts["vault"], abi=compiled("Executor").abi)
    world.send(vault.functions.set_guards(100, WINDOW_S, 0, 0), world.book.accounts["owner"])
    book_path = keeper_book(tmp_path)
    book = Book.load(book_path)
    # the book is drifted, but the vault has no observation: refused on-chain, so the keeper pokes
    # every pair once, and then waits (a second poke would record nothing)
    run = drive(world, book_path, lambda steps: _count(steps, "refused") >= 3, mine_every_s=0.1)
    assert _count(run.steps, "sent") == 0
    (poked,) = [s for s in run.steps if s.action == "poked"]
    assert "vault_guard" in poked.reason and "no price observation" in poked.reason
    assert all("no price observation" in s.reason for s in run.steps if s.action == "refused")
    receipt = world.w3.eth.get_transaction_receipt(poked.tx_hash)
    assert receipt["status"] == 1 and receipt["to"] == vault.address
    with Journal.open(default_path(book_path)) as journal:
        (row,) = journal.upkeep(world.book.chain_id, book.vault)
        # settled on a later head, and counted in the day's gas
        assert row["status"] == "mined" and row["tx_hash"] == poked.tx_hash
        assert row["fee_wei"] == receipt["gasUsed"] * receipt["effectiveGasPrice"]
        spent = journal.gas_spent_since(world.book.chain_id, book.vault, midnight_utc(row["created_at"]))
        assert spent == row["fee_wei"]
    # the gas model prices a poke exactly
    assert row["detail"]["predicted_gas"] == receipt["gasUsed"]
    assert sorted(row["detail"]["pairs"]) == sorted(book.pairs)
    # once the observations are a window old, the bundle goes through the vault's guards
    world.node.rpc("evm_increaseTime", WINDOW_S + 1)
    world.node.rpc("evm_mine")
    run = drive(world, book_path, lambda steps: _count(steps, "hold") >= 2, mine_every_s=0.1)
    assert _count(run.steps, "sent") == 1 and _count(run.steps, "poked") == 0
    record = journal_records(book_path)[0]  # the second run
    (intent,) = record["intents"]
    assert intent["status"] == "executed" and intent["outcome"]["matches"] == 1
    predicted = intent["plan"]["predicted"]
    assert {a: str(v) for a, v in vault_holdings(world).items()} == {
        **predicted["balances"],
        **predicted["lp"],
    }


def test_a_cooling_vault_is_waited_out_quietly_not_warned_about_every_head(
    world: World, tmp_path: Path
) -> None:
    vault = world.w3.eth.contract(address=world.book.accounts["vault"], abi=compiled("Executor").abi)
    keeper = world.book.accounts["keeper"]
    world.send(vault.functions.set_guards(0, 0, 3600, 0), world.book.accounts["owner"])
    pair = world.book.pairs["WETH/USDC"]
    tiny = execute_calldata([Swap(pair.address, pair.token0 == "WETH", 10**12, 1)], 2**40, b"\x01" * 32)
    world.w3.eth.wait_for_transaction_receipt(
        world.w3.eth.send_transaction({"from": keeper, "to": vault.address, "data": "0x" + tiny.hex()})
    )  # a bundle just went through: an hour to wait
    run = drive(world, keeper_book(tmp_path), lambda steps: _count(steps, "waiting") >= 3, mine_every_s=0.1)
    waits = [s for s in run.steps if s.action == "waiting"]
    assert all(
        "vault_guard: the vault would refuse it: the vault cools down until" in s.reason for s in waits
    )
    assert _count(run.steps, "sent") == 0 and _count(run.steps, "refused") == 0
