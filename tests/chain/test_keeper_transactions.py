"""The keeper's transactions on the world: replaced when stuck, rebroadcast when dropped, once in a reorg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.keeper.step import Step
from tests.chain.books import journal_records, vault_holdings
from tests.chain.conftest import World
from tests.chain.keeper_harness import Drive, drive, keeper_book


def _keeper_nonce(world: World, tag: str = "latest") -> int:
    return int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"], tag))


def _sent_after(steps: list[Step], action: str) -> bool:
    actions = [s.action for s in steps]
    return "sent" in actions and action in actions[actions.index("sent") + 1 :]


def _executed_once(world: World, book: Path, nonce: int) -> dict[str, Any]:
    """The one intent of the book's journal, executed as predicted, on exactly one nonce."""
    assert _keeper_nonce(world) == nonce + 1 == _keeper_nonce(world, "pending")
    runs = journal_records(book)
    intents = [i for r in runs for i in r["intents"]]
    assert len(intents) == 1
    (intent,) = intents
    assert intent["status"] == "executed" and intent["outcome"]["matches"] == 1
    predicted = intent["plan"]["predicted"]
    holdings = {a: str(v) for a, v in vault_holdings(world).items()}
    assert holdings == {**predicted["balances"], **predicted["lp"]}
    return dict(intent)


def test_a_stuck_transaction_is_replaced_on_its_nonce_with_both_fees_raised(
    world: World, tmp_path: Path, manual_mining: None
) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["fees"] = {"replace_after_blocks": 2}

    book = keeper_book(tmp_path, change)
    nonce = _keeper_nonce(world)
    priced_out: list[int] = []

    def step(step: Step, run: Drive) -> None:
        if step.action == "sent":
            # the base fee jumps above the transaction's fee cap: it cannot be included
            tx = world.w3.eth.get_transaction(step.tx_hash)
            priced_out.append(int(tx["maxFeePerGas"]))
            world.node.rpc("anvil_setNextBlockBaseFeePerGas", hex(4 * priced_out[0]))
        if priced_out:
            world.node.rpc("evm_mine")

    run = drive(world, book, lambda steps: _sent_after(steps, "hold"), on_step=step)
    intent = _executed_once(world, book, nonce)
    first, second = intent["attempts"]
    assert first["status"] == "superseded" and second["status"] == "mined"
    assert first["nonce"] == second["nonce"] == nonce
    # both raised by at least 12.5%, rounded up (geth wants 10% on each)
    assert second["max_fee"] * 8 >= first["max_fee"] * 9 and second["tip"] * 8 >= first["tip"] * 9
    assert second["max_fee"] > 4 * priced_out[0]  # and enough for the new base fee
    assert intent["outcome"]["tx_hash"] == second["tx_hash"]
    replaced = [s for s in run.steps if s.reason.startswith("replaced ")]
    assert len(replaced) == 1 and replaced[0].tx_hash == second["tx_hash"]
    assert second["sent_block"] - first["sent_block"] >= 2


def test_a_dropped_transaction_is_rebroadcast_from_its_saved_bytes(
    world: World, tmp_path: Path, manual_mining: None
) -> None:
    book = keeper_book(tmp_path)
    nonce = _keeper_nonce(world)
    dropped: list[str] = []

    def step(step: Step, run: Drive) -> None:
        if step.action == "sent":
            assert step.tx_hash is not None
            world.node.rpc("anvil_dropTransaction", step.tx_hash)
            assert world.w3.eth.get_transaction_count(world.book.accounts["keeper"], "pending") == nonce
            dropped.append(step.tx_hash)
        if dropped:
            world.node.rpc("evm_mine")

    run = drive(world, book, lambda steps: _sent_after(steps, "hold"), on_step=step)
    intent = _executed_once(world, book, nonce)
    (attempt,) = intent["attempts"]  # the same bytes, not a new transaction
    assert attempt["tx_hash"] == dropped[0] == intent["outcome"]["tx_hash"]
    assert attempt["error"] == "rebroadcast after it was dropped"
    assert any("rebroadcast from its saved raw bytes" in s.reason for s in run.steps)


@pytest.mark.parametrize("confirmations", [1, 2])
def test_a_reorg_of_depth_one_ends_with_exactly_one_execution(
    world: World, tmp_path: Path, confirmations: int
) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["fees"] = {"confirmations": confirmations}

    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path, change)
    nonce = _keeper_nonce(world)
    blocks: list[int] = []

    def step(step: Step, run: Drive) -> None:
        if step.action == "sent" and not blocks:
            assert step.tx_hash is not None
            # automine mines it in the next block, a moment after the send returns
            mined = world.w3.eth.wait_for_transaction_receipt(step.tx_hash, timeout=30, poll_latency=0.02)
            blocks.append(mined["blockNumber"])
        elif len(blocks) == 1 and step.head >= blocks[0]:
            # the keeper has seen the block (with one confirmation, recorded it): reorg it away
            world.node.rpc("anvil_reorg", 1, [])
            assert world.w3.eth.get_transaction_count(world.book.accounts["keeper"]) == nonce
            blocks.append(len(run.steps))  # the steps so far
        elif len(blocks) == 2:
            world.node.rpc("evm_mine")

    def until(steps: list[Step]) -> bool:
        return len(blocks) == 2 and len(steps) > blocks[1] and steps[-1].action == "hold"

    run = drive(world, book, until, on_step=step)
    intent = _executed_once(world, book, nonce)
    (attempt,) = intent["attempts"]  # the same transaction, mined again
    assert attempt["tx_hash"] == intent["outcome"]["tx_hash"]
    assert intent["outcome"]["block"] > blocks[0]  # mined again, in a later block
    assert (
        intent["outcome"]["block_hash"]
        == world.w3.eth.get_block(intent["outcome"]["block"])["hash"].to_0x_hex()
    )
    assert [s.action for s in run.steps].count("sent") == 1
    if confirmations == 1:
        assert intent["note"].startswith(f"block {blocks[0]} (")
