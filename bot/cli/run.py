"""`ammkeeper run`: the keeper as a process (see `bot.keeper.service`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from bot.chain import endpoints
from bot.cli import options
from bot.core.book import Book, host_port
from bot.keeper.service import alerter_of, run_keeper
from bot.ops import logs
from bot.ops.alerts import Alert, Alerter
from bot.tx.journal import Journal, journal_path

log = logging.getLogger(__name__)


def metrics_address(text: str) -> str:
    try:
        host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser(
        "run", parents=[common], help="the keeper: follow heads, rebalance on its own, metrics, alerts"
    )
    options.add_book(parser)
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
    options.add_keystore(parser, dev=True)
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--metrics",
        type=metrics_address,
        default=None,
        help="HOST:PORT for /metrics and /healthz (default: the book's)",
    )
    parser.add_argument(
        "--max-heads",
        type=options.positive_int,
        default=None,
        help="stop after this many heads (tests, demos)",
    )
    options.add_journal_option(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """`ammkeeper run`; the exit code (0: stopped on request)."""
    logs.setup(args.log_format, logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    journal = Journal.open(journal_path(args.journal, args.config))
    with journal, journal.exclusive(), journal.recording("keeper", args.config) as record:
        book = Book.load(args.config)
        ends = endpoints.resolve(book, args.rpc, args.send_rpc)
        account = options.load_key(args)
        journal.describe_run(
            record.id, endpoint=endpoints.endpoint_label(ends.calls[0]), keeper=account.address
        )
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
