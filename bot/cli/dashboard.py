"""`ammkeeper dashboard`: the keeper's pages without a keeper (the journal and the chain)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from aiohttp import web

from bot.chain import endpoints, rpc
from bot.cli import options
from bot.cli.run import metrics_address
from bot.core.book import Book, host_port
from bot.keeper.dashboard import Dashboard, add_routes, control_token
from bot.keeper.planning import checked_chain
from bot.ops import metrics
from bot.tx.journal import Journal, journal_path

DEFAULT_LISTEN = "127.0.0.1:8464"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser(
        "dashboard",
        parents=[common],
        help="the book, its history and the keeper in a browser (no keeper needed)",
    )
    options.add_book(parser)
    options.add_rpc(parser)
    options.add_journal_option(parser)
    parser.add_argument(
        "--listen",
        type=metrics_address,
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT to serve on (default {DEFAULT_LISTEN}: this machine only)",
    )
    parser.add_argument(
        "--token-env",
        default=None,
        help="the environment variable holding the control token (default the book's "
        "[keeper] dashboard_token_env; without a token the pages are read-only)",
    )
    parser.set_defaults(func=command)


async def serve(args: argparse.Namespace, book: Book, journal: Journal, on_ready: Any = None) -> None:
    token = control_token(args.token_env or book.keeper.dashboard_token_env)
    async with rpc.connect(endpoints.resolve(book, args.rpc).calls, book=book) as w3:
        chain_id, _ = await checked_chain(w3, book)
        journal.bind(book.vault, chain_id)
        board = Dashboard(book, args.config, journal, w3, chain_id, token)
        app = web.Application()
        add_routes(app, board, host_port(args.listen)[0])
        runner = await metrics.listen(app, args.listen, "dashboard")
        url = f"http://{host_port(args.listen)[0]}:{metrics.bound_port(runner)}"
        print(
            f"the dashboard of {book.name} on {url}/ ({'with controls' if token else 'read-only'}); "
            "Ctrl-C stops it"
        )
        try:
            if on_ready is not None:
                on_ready(url)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


def command(args: argparse.Namespace) -> int:
    book = Book.load(args.config)
    with Journal.open(journal_path(args.journal, args.config)) as journal:
        asyncio.run(serve(args, book, journal))
    return 0
