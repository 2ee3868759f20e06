"""`ammkeeper run`: the keeper process (orchestration).

One asyncio process: a TaskGroup of the head follower (HTTP polling, or eth_subscribe when
an endpoint is ws://) and the worker that hands the newest head to `Keeper.step`, plus the
metrics server. SIGTERM and SIGINT stop it gracefully: the head in hand is finished (a
transaction being sent is journaled and broadcast, never cut in half), the run is recorded
as stopped with what is still in flight, and the next start settles it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain import endpoints, heads, rpc
from bot.core.book import Book, host_port
from bot.core.errors import BadInput
from bot.keeper.dashboard import Dashboard, add_routes, control_token
from bot.keeper.step import Keeper, Step
from bot.ops import metrics
from bot.ops.alerts import Alerter
from bot.ops.kill_switch import pause_path
from bot.tx.journal import Journal, RunRecord

log = logging.getLogger(__name__)


def alerter_of(book: Book) -> Alerter | None:
    settings = book.alerts
    url = settings.webhook
    if settings.webhook_env:
        url = os.environ.get(settings.webhook_env)
        if not url:
            raise BadInput(f"alerts.webhook_env: ${settings.webhook_env} is not set")
    if not url:
        return None
    return Alerter(url, settings.format, chat_id=settings.chat_id)


@dataclass
class Running:
    """What a started keeper exposes to its caller (tests, the demo, the benchmark)."""

    keeper: Keeper
    metrics_url: str | None
    stop: Callable[[], None]


async def run_keeper(
    book: Book,
    book_path: Path,
    account: LocalAccount,
    journal: Journal,
    record: RunRecord,
    ends: endpoints.Endpoints,
    *,
    metrics_address: str | None = None,
    max_heads: int | None = None,
    poll_s: float | None = None,
    on_ready: Callable[[Running], Awaitable[None] | None] | None = None,
    on_step: Callable[[Step], Awaitable[None] | None] | None = None,
    handle_signals: bool = True,
) -> Keeper:
    """Run the keeper until stopped (a signal, `Running.stop`, or `max_heads` heads)."""
    reader_pool = rpc.pool(ends.calls, name="rpc", book=book)
    sender_pool = rpc.pool(ends.sends, name="send", book=book)
    checker_pool = None
    if book.keeper.cross_check and len(ends.calls) > 1:
        checker_pool = rpc.pool(ends.calls[1:2], name="cross-check", book=book)
    alerter = alerter_of(book)
    interval = poll_s if poll_s is not None else float(book.keeper.block_time_s)
    keeper = Keeper(
        book=book,
        book_path=book_path,
        account=account,
        journal=journal,
        record=record,
        reader=AsyncWeb3(reader_pool),
        sender=AsyncWeb3(sender_pool),
        checker=AsyncWeb3(checker_pool) if checker_pool else None,
        alerter=alerter,
        pause_file=pause_path(book_path, book),
        health=metrics.Health(stale_after_s=max(30.0, 5 * interval)),
    )
    slot = heads.LatestHead()
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        slot.changed.set()

    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
    server = None
    try:
        await keeper.prepare()
        address = metrics_address or book.keeper.metrics
        if address:
            board = Dashboard(book, book_path, journal, keeper.reader, keeper.chain_id,
                              control_token(book.keeper.dashboard_token_env), keeper)  # fmt: skip
            server = await metrics.serve(
                keeper.registry,
                keeper.health,
                address,
                lambda app: add_routes(app, board, host_port(address)[0]),
            )
            host = host_port(address)[0]
            metrics_url = f"http://{host}:{metrics.bound_port(server)}"
            log.info(
                "metrics on %s/metrics, health on %s/healthz, the dashboard on %s/ (%s)",
                metrics_url, metrics_url, metrics_url, "with controls" if board.token else "read-only",
            )  # fmt: skip
        else:
            metrics_url = None
        log.info(
            "keeper %s for vault %s on chain %d: %s; heads by %s",
            account.address,
            book.vault,
            keeper.chain_id,
            ", ".join(endpoints.endpoint_label(u) for u in ends.calls),
            f"eth_subscribe on {endpoints.endpoint_label(ends.heads_ws)}"
            if ends.heads_ws
            else f"polling every {interval:g} s",
        )
        if on_ready is not None:
            ready = on_ready(Running(keeper, metrics_url, stop))
            if ready is not None:
                await ready
        async with asyncio.TaskGroup() as tasks:
            if ends.heads_ws:
                follower = tasks.create_task(
                    heads.subscribe(ends.heads_ws, slot, fallback=keeper.reader, poll_s=interval)
                )
            else:
                follower = tasks.create_task(heads.poll(keeper.reader, slot, interval))
            count = 0
            while not stopping.is_set():
                await slot.changed.wait()
                slot.changed.clear()
                if stopping.is_set() or slot.head is None:
                    continue
                step = await keeper.step(slot.head)
                count += 1
                if on_step is not None:
                    done = on_step(step)
                    if done is not None:
                        await done
                if max_heads is not None and count >= max_heads:
                    break
            follower.cancel()
    finally:
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        if server is not None:
            await server.cleanup()
        for pool in (reader_pool, sender_pool, checker_pool):
            if pool is not None:
                await pool.disconnect()
        if alerter is not None:
            await alerter.close()
    return keeper
