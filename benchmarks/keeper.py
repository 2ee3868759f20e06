"""The keeper's own time per head on the local world, and its memory after 1,000 heads.

Real anvil, real pairs, the same `Keeper.step` that `ammkeeper run` calls, through the same
endpoint pool. Times run from the moment the head is known (`Head.seen_at`):

- decide: to the decision (snapshot at the head and at the TWAP window's start, valuation,
  strategy, plan), measured on heads where the book is inside its bands (after a rebalance);
- broadcast: to eth_sendRawTransaction accepted, on the drifted world book (fees, estimate,
  guards, simulation at the head, intent, sign, journal, broadcast), from a fresh snapshot each time.

The book has 20 sleeves: the local world widened by ten tokens and pairs (`anvil/wide_world.py`),
with the vault's LP in each. RSS is this process's resident set after the heads. Last line: one
JSON object.

    .venv/bin/python benchmarks/keeper.py [--heads N] [--sends N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account
from web3 import AsyncWeb3

from anvil.wide_world import widen
from anvil.world import ACCOUNT_NAMES, dev_key, ensure_world, start_world
from bot.chain.headers import header_at
from bot.chain.rpc_pool import EndpointPool
from bot.core.book import Book
from bot.keeper.step import Keeper, Step
from bot.tx.journal import Journal


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_keeper(url: str, book: Book, book_path: Path, journal: Journal) -> tuple[Keeper, EndpointPool]:
    # a local node: no rate limit (the book's default, 25 requests/s, is for hosted endpoints; with
    # heads back to back it would make every head wait for the bucket)
    pool = EndpointPool([url], rate_per_s=100_000)
    w3: AsyncWeb3[Any] = AsyncWeb3(pool)
    record = journal.recording("keeper", book_path).__enter__()
    keeper = Keeper(
        book=book, book_path=book_path, account=Account.from_key(dev_key(ACCOUNT_NAMES.index("keeper"))),
        journal=journal, record=record, reader=w3, sender=w3, pause_file=book_path.with_suffix(".paused"),
    )  # fmt: skip
    await keeper.prepare()
    return keeper, pool


async def step_at_head(keeper: Keeper) -> Step:
    head = await header_at(keeper.reader, "latest")  # seen_at: now
    return await keeper.step(head)


async def measure(url: str, node: Any, book_path: Path, heads: int, sends: int) -> dict[str, Any]:
    book = Book.load(book_path)
    drifted = node.rpc("evm_snapshot")
    broadcast_ms: list[float] = []
    for i in range(sends):
        with tempfile.TemporaryDirectory() as scratch:
            journal = Journal.open(Path(scratch) / "journal.sqlite")
            keeper, pool = await one_keeper(url, book, book_path, journal)
            step = await step_at_head(keeper)
            assert step.action == "sent" and step.broadcast_ms is not None, step
            broadcast_ms.append(step.broadcast_ms)
            await pool.disconnect()
            journal.close()
        node.rpc("anvil_dropAllTransactions")  # the bundle just sent must not be mined
        node.rpc("evm_revert", drifted)
        drifted = node.rpc("evm_snapshot")
        node.rpc("evm_mine")  # a fresh block: anvil's eth_call sees the reverted base fee only then
        times = f"broadcast {step.broadcast_ms:.1f} ms, decided {step.decide_ms:.1f} ms"
        print(f"send {i + 1}: {times}: {step.reason}")
    with tempfile.TemporaryDirectory() as scratch:
        journal = Journal.open(Path(scratch) / "journal.sqlite")
        keeper, pool = await one_keeper(url, book, book_path, journal)
        assert (await step_at_head(keeper)).action == "sent"
        node.rpc("evm_mine")
        print(f"held at: {(await step_at_head(keeper)).reason}")
        node.rpc("evm_mine")
        decide_ms: list[float] = []
        rss_start = rss_mb()
        for _ in range(heads):
            step = await step_at_head(keeper)
            assert step.action == "hold", step
            assert step.decide_ms is not None
            decide_ms.append(step.decide_ms)
            node.rpc("evm_mine")
        rss_end = rss_mb()
        await pool.disconnect()
        journal.close()
    sleeves = len(book.sleeves)
    print(f"book: {sleeves} sleeves over {len(book.pairs)} pairs; {heads} heads held, {sends} sends")
    p95 = sorted(decide_ms)[int(0.95 * heads)]
    print(f"decide: median {statistics.median(decide_ms):.1f} ms, p95 {p95:.1f} ms")
    print(f"broadcast: median {statistics.median(broadcast_ms):.1f} ms")
    print(f"rss: {rss_start:.1f} MB before the heads, {rss_end:.1f} MB after")
    return {
        "bench": "keeper",
        "sleeves": sleeves,
        "heads": heads,
        "decide_ms_median": round(statistics.median(decide_ms), 1),
        "broadcast_ms_median": round(statistics.median(broadcast_ms), 1),
        "rss_mb": round(rss_end, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=1000)
    parser.add_argument("--sends", type=int, default=15)
    args = parser.parse_args()
    node, world = start_world(files=ensure_world())
    try:
        with tempfile.TemporaryDirectory() as scratch:
            book_path = Path(scratch) / "wide.toml"
            book_path.write_text(widen(node.url, world)[1])
            # 12 s blocks, past the TWAP window, so the new pairs have a price history
            window_blocks = Book.load(book_path).prices.twap_window_s // 12 + 1
            node.rpc("anvil_mine", hex(window_blocks), hex(12))
            node.rpc("evm_setAutomine", False)
            node.rpc("anvil_setBlockTimestampInterval", 12)
            node.rpc("evm_mine")
            started = time.monotonic()
            result = asyncio.run(measure(node.url, node, book_path, args.heads, args.sends))
            print(f"({time.monotonic() - started:.0f} s)")
    finally:
        node.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
