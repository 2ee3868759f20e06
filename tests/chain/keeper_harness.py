"""Running the keeper in-process against the world: until a condition on its steps, with a deadline."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from anvil.world import ACCOUNT_NAMES, dev_key
from bot.chain import endpoints
from bot.core.book import Book
from bot.keeper.service import Running, run_keeper
from bot.keeper.step import Keeper, Step
from bot.tx.journal import Journal, default_path
from tests.chain.books import write_book
from tests.chain.conftest import World
from tests.chain.fault_proxy import fault_proxy


def start_keeper(book: Path, url: str, *more: str) -> subprocess.Popen[str]:
    """`ammkeeper run` on `book` and the node at `url` as a process (the world keeper's key by --dev)."""
    env = {**os.environ, "AMMKEEPER_DEV_KEY": dev_key(ACCOUNT_NAMES.index("keeper"))}
    command = [
        str(Path(sys.executable).parent / "ammkeeper"),
        "run",
        "--config",
        str(book),
        "--rpc",
        url,
        "--dev",
        *more,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_while_held(
    world: World, book: Path, hold: Callable[[dict[str, Any]], bool], forward: bool, wait_s: float = 60.0
) -> bool:
    """Start `ammkeeper run` on `book` behind a proxy; at the first request `hold` picks, SIGKILL the
    keeper while the proxy holds that request, then forward it to the node (its answer lost) or drop
    it. Returns whether a request was picked within `wait_s`; the keeper is killed either way."""
    held, killed = threading.Event(), threading.Event()

    def fault(request: dict[str, Any]) -> tuple[int, dict[str, str]] | None:
        if killed.is_set():
            return (502, {})  # whatever else a dead keeper had in the air
        if held.is_set() or not hold(request):
            return None
        held.set()
        assert killed.wait(30)
        return None if forward else (502, {})

    with fault_proxy(world.node.url, fault=fault) as proxy:
        process = start_keeper(book, proxy)
        try:
            held.wait(wait_s)
        finally:
            process.kill()  # SIGKILL: no chance to record anything
            process.communicate()
            killed.set()
    return held.is_set()


def keeper_account() -> LocalAccount:
    account: LocalAccount = Account.from_key(dev_key(ACCOUNT_NAMES.index("keeper")))
    return account


def keeper_book(tmp_path: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The world's book with a fast head poll (the world mines only on demand)."""

    def fast(raw: dict[str, Any]) -> None:
        raw["keeper"] = {"block_time_s": 0.05, **raw.get("keeper", {})}
        if change is not None:
            change(raw)

    return write_book(tmp_path, fast)


@dataclass
class Drive:
    steps: list[Step] = field(default_factory=list)
    keeper: Keeper | None = None
    metrics_url: str | None = None
    run_status: str = ""

    def actions(self) -> list[str]:
        return [s.action for s in self.steps]


def drive(
    world: World,
    book_path: Path,
    until: Callable[[list[Step]], bool],
    *,
    rpc: list[str] | None = None,
    send_rpc: list[str] | None = None,
    timeout_s: float = 60.0,
    mine_every_s: float | None = None,
    on_step: Callable[[Step, Drive], Awaitable[None] | None] | None = None,
    metrics: str | None = None,
) -> Drive:
    """Run a keeper on `book_path` until `until(steps)` holds; mine a block every `mine_every_s`."""
    book = Book.load(book_path)
    out = Drive()
    with Journal.open(default_path(book_path)) as journal, journal.recording("keeper", book_path) as record:

        async def main() -> None:
            running: list[Running] = []

            def ready(r: Running) -> None:
                running.append(r)
                out.metrics_url = r.metrics_url

            async def stepped(step: Step) -> None:
                out.steps.append(step)
                if on_step is not None:
                    done = on_step(step, out)
                    if done is not None:
                        await done
                if until(out.steps):
                    running[0].stop()

            ends = endpoints.resolve(book, rpc or [world.node.url], send_rpc)
            async with asyncio.timeout(timeout_s):
                out.keeper = await run_keeper(
                    book, book_path, keeper_account(), journal, record, ends,
                    metrics_address=metrics, on_ready=ready, on_step=stepped, handle_signals=False,
                )  # fmt: skip

        with miner(world, mine_every_s):
            asyncio.run(main())
        record.status = "stopped"
    return out


@contextmanager
def miner(world: World, every_s: float | None) -> Iterator[None]:
    """Mine an empty block every `every_s` seconds in a thread (heads for a keeper to see)."""
    if every_s is None:
        yield
        return
    stop = threading.Event()

    def mine() -> None:
        while not stop.wait(every_s):
            world.node.rpc("evm_mine")

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
