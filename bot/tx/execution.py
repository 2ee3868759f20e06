"""After a bundle is mined: its outcome against the plan (IO around `bot.core.outcome`)."""

from __future__ import annotations

from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.chain.vault import revert_reason
from bot.core.address_book import checksum
from bot.core.book import Book
from bot.core.outcome import Outcome, Receipt
from bot.core.planner import Plan
from bot.core.realized import op_movements, synced_reserves
from bot.core.valuation import BookView, value_book
from bot.tx.transactions import receipt_logs


async def replay_reason(w3: AsyncWeb3[Any], sender: str, to: str, calldata: bytes, block: int) -> str:
    """Why a mined transaction reverted: the same call replayed on the state before its block."""
    call = {"from": checksum(sender), "to": checksum(to), "data": "0x" + calldata.hex()}
    answer = await rpc.request(w3, "eth_call", [call, hex(max(block - 1, 0))])
    if "error" not in answer:
        return "(the call succeeds when replayed on the previous block: the state changed within the block)"
    return revert_reason(answer["error"]) or "(no reason)"


async def read_outcome(
    w3: AsyncWeb3[Any],
    book: Book,
    before: BookView,
    plan: Plan,
    receipt: Receipt,
    keeper: str,
    calldata: bytes,
) -> Outcome:
    """The bundle's realized movements per op and the book at the receipt's block."""
    if not receipt.success:
        reason = await replay_reason(w3, keeper, book.vault, calldata, receipt.block)
        return Outcome(plan, before, receipt, (), None, reason)
    logs = await receipt_logs(w3, receipt.tx_hash)
    movements = op_movements(plan.executor_ops, logs, book.vault)
    snapshot = await SnapshotReader(w3).read(
        list(book.pairs.values()), book.vault, [t.address for t in book.tokens.values()], receipt.block
    )
    # the block-end state is the bundle's own only when nothing else was in its block
    count = await rpc.result(w3, "eth_getBlockTransactionCountByHash", [receipt.block_hash])
    return Outcome(
        plan, before, receipt, tuple(movements), value_book(book, snapshot),
        synced=synced_reserves(logs), sole=count == "0x1",
    )  # fmt: skip
