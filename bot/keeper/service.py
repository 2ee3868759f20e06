"""`ammkeeper run`: the keeper process (orchestration).

One asyncio process: a TaskGroup of the head follower (HTTP polling, or eth_subscribe when
an endpoint is ws://) and the worker that hands the newest head to `Keeper.step`, plus the
metrics server. SIGTERM and SIGINT stop it gracefully: the head in hand is finished (a
transaction being sent is journaled and broadcast, never cut in half), the run is recorded
as stopped with what is still in flight, and the next start settles it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain import heads, rpc
from bot.chain.rpc_pool import EndpointPool
from bot.core.book import Book, host_port
from bot.core.errors import BadInput
from bot.keeper.step import Keeper, Step
from bot.ops import logs, metrics
from bot.ops.alerts import Alert, Alerter
from bot.ops.kill_switch import pause_path
from bot.tx.journal import Journal, RunRecord, add_journal_option, journal_path
from bot.tx.keystore import DEFAULT_PASSWORD_ENV, load_account, read_password

log = logging.getLogger(__name__)

DEV_KEY_ENV = "AMMKEEPER_DEV_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the book file (TOML)")
    parser.add_argument(
        "--rpc",
        action="append",
        default=None,
        help="RPC URL, repeat for failover (default: the book's rpc, or $AMMKEEPER_RPC_URL); ws:// URLs "
        "are used for eth_subscribe(newHeads)",
    )
    parser.add_argument(
        "--send-rpc",
        action="append",
        default=None,
        help="endpoint for sending (a private relay), repeatable; the --rpc ones are the fallback",
    )
    parser.add_argument("--keystore", type=Path, help="the keeper's v3 keystore")
    parser.add_argument(
        "--password-env",
        default=DEFAULT_PASSWORD_ENV,
        help=f"environment variable holding the keystore password (default ${DEFAULT_PASSWORD_ENV})",
    )
    parser.add_argument("--password-file", type=Path, help="file holding the keystore password")
    parser.add_argument(
        "--dev",
        action="store_true",
        help=f"development only: a plaintext private key from ${DEV_KEY_ENV} (or --key-env)",
    )
    parser.add_argument("--key-env", default=DEV_KEY_ENV, help="with --dev: the variable holding the key")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--metrics", default=None, help="HOST:PORT for /metrics and /healthz (default: the book's)"
    )
    parser.add_argument(
        "--max-heads", type=int, default=None, help="stop after this many heads (tests, demos)"
    )
    add_journal_option(parser)


def load_key(args: argparse.Namespace) -> LocalAccount:
    """The keeper key: a keystore, or with --dev a plaintext key from the environment."""
    if args.dev:
        if args.keystore is not None:
            raise BadInput("--dev reads a plaintext key from the environment: drop --keystore, or drop --dev")
        raw = os.environ.get(args.key_env, "").strip()
        if not raw:
            raise BadInput(f"--dev: ${args.key_env} holds no private key")
        try:
            account: LocalAccount = Account.from_key(raw)
        except (ValueError, TypeError):
            raise BadInput(f"--dev: ${args.key_env} is not a private key (32 bytes of hex)") from None
        log.warning("--dev: using a plaintext key from $%s; use a keystore in production", args.key_env)
        return account
    if args.keystore is None:
        raise BadInput("no key: pass --keystore FILE (a v3 keystore of the vault's keeper), or --dev")
    return load_account(args.keystore, read_password(args.password_env, args.password_file))


@dataclass(frozen=True, slots=True)
class Endpoints:
    calls: list[str]
    sends: list[str]
    heads_ws: str | None


def endpoints(book: Book, rpc_args: Sequence[str] | None, send_args: Sequence[str] | None) -> Endpoints:
    """Call, send and head endpoints from the arguments, the book or $AMMKEEPER_RPC_URL."""
    from_env = os.environ.get("AMMKEEPER_RPC_URL")
    urls = list(rpc_args or book.rpc or ([from_env] if from_env else []))
    if not urls:
        raise BadInput("no RPC: pass --rpc URL, give rpc in the book, or set AMMKEEPER_RPC_URL")
    ws = [heads.check_ws_url(u) for u in urls if u.startswith(("ws://", "wss://"))]
    calls = [rpc.check_url(u) for u in urls if not u.startswith(("ws://", "wss://"))]
    if not calls:  # providers serve HTTP beside their WebSocket (same host and path for most)
        calls = [rpc.check_url("http" + u[2:]) for u in ws]
    sends = [rpc.check_url(u) for u in (send_args or book.keeper.send_rpc)]
    return Endpoints(calls, sends + [u for u in calls if u not in sends], ws[0] if ws else None)


def _pool(urls: Sequence[str], name: str, book: Book) -> EndpointPool:
    settings = book.keeper
    return EndpointPool(
        urls,
        name=name,
        deadline_s=float(settings.rpc_deadline_s),
        retries=settings.rpc_retries,
        rate_per_s=float(settings.rate_limit_per_s),
    )


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
    ends: Endpoints,
    *,
    metrics_address: str | None = None,
    max_heads: int | None = None,
    poll_s: float | None = None,
    on_ready: Callable[[Running], Awaitable[None] | None] | None = None,
    on_step: Callable[[Step], Awaitable[None] | None] | None = None,
    handle_signals: bool = True,
) -> Keeper:
    """Run the keeper until stopped (a signal, `Running.stop`, or `max_heads` heads)."""
    reader_pool = _pool(ends.calls, "rpc", book)
    sender_pool = _pool(ends.sends, "send", book)
    checker_pool = None
    if book.keeper.cross_check and len(ends.calls) > 1:
        checker_pool = _pool(ends.calls[1:2], "cross-check", book)
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
            server = await metrics.serve(keeper.registry, keeper.health, address)
            host = host_port(address)[0]
            metrics_url = f"http://{host}:{metrics.bound_port(server)}"
            log.info("metrics on %s/metrics, health on %s/healthz", metrics_url, metrics_url)
        else:
            metrics_url = None
        log.info(
            "keeper %s for vault %s on chain %d: %s; heads by %s",
            account.address,
            book.vault,
            keeper.chain_id,
            ", ".join(rpc.endpoint_label(u) for u in ends.calls),
            f"eth_subscribe on {rpc.endpoint_label(ends.heads_ws)}"
            if ends.heads_ws
            else f"polling every {interval:g} s",
        )
        if on_ready is not None:
            ready = on_ready(Running(keeper, metrics_url, stop))
            if ready is not None:
                await ready
        async with asyncio.TaskGroup() as tasks:
            if ends.heads_ws:
                follower = tasks.create_task(heads.subscribe(ends.heads_ws, slot))
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


def run(args: argparse.Namespace) -> int:
    """`ammkeeper run`; the exit code (0: stopped on request)."""
    logs.setup(args.log_format, logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    journal = Journal.open(journal_path(args.journal, args.config))
    with journal, journal.exclusive(), journal.recording("keeper", args.config) as record:
        book = Book.load(args.config)
        ends = endpoints(book, args.rpc, args.send_rpc)
        account = load_key(args)
        journal.describe_run(record.id, endpoint=rpc.endpoint_label(ends.calls[0]), keeper=account.address)
        alert_on_stop = alerter_of(book)
        try:
            keeper = asyncio.run(
                run_keeper(
                    book,
                    args.config,
                    account,
                    journal,
                    record,
                    ends,
                    metrics_address=args.metrics,
                    max_heads=args.max_heads,
                )
            )
        except BaseException:
            if alert_on_stop is not None:
                asyncio.run(_final_alert(alert_on_stop, book, "the keeper stopped on an error"))
            raise
        in_flight = keeper.in_flight()
        record.status = "stopped"
        flight = ", ".join(in_flight) if in_flight else "nothing"
        record.message = f"sent {keeper.sent_count}; in flight: {flight}"
        log.info("stopped: %s", record.message)
    return 0


async def _final_alert(alerter: Alerter, book: Book, title: str) -> Any:
    try:
        return await alerter.send(Alert("failure", title, "", book.name))
    finally:
        await alerter.close()
