"""`ammkeeper status`: the book table, from a book file or from pairs and a holder."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.chain import endpoints, rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.cli import options
from bot.core.address_book import AddressBook, checksum
from bot.core.book import Book
from bot.core.errors import BadInput, BookReadError
from bot.core.snapshot import Snapshot
from bot.keeper import planning
from bot.report import plan_report
from bot.report.book_table import as_json, book_table, render

EXIT_BAD_INPUT = 2


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    status = sub.add_parser(
        "status", parents=[common], help="the book table: reserves, price, LP held, share, value"
    )
    options.add_rpc(status)
    status.add_argument("--address-book", type=Path, help="address book JSON (as `ammkeeper world` writes)")
    status.add_argument(
        "--pair", action="append", default=[], help="a pair address (repeatable); default: the book's"
    )
    status.add_argument(
        "--token", action="append", default=[], help="an idle token address to show (repeatable)"
    )
    status.add_argument("--holder", help="holder: an address, or a named account of the address book")
    status.add_argument("--numeraire", help="value in this token: symbol of the address book, or an address")
    status.add_argument(
        "--block", type=options.block, default="latest", help="block number or tag (default latest)"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    options.add_journal_option(status)
    options.add_book(
        status, required=False, help="a book file: show its sleeves, weights, drift, IL and the decision"
    )
    status.set_defaults(func=command)


async def read_snapshot(
    urls: Sequence[str], pairs: Sequence[str], holder: str, tokens: Sequence[str], block: int | str
) -> Snapshot:
    """One snapshot of the given pairs and tokens."""
    async with rpc.connect(urls) as w3:
        return await SnapshotReader(w3).read(pairs, holder, tokens, block)


def _inputs(args: argparse.Namespace) -> tuple[list[str], list[str], str, list[str], str, dict[str, str]]:
    """(rpc urls, pairs, holder, extra tokens, numeraire address, pair names) from the arguments."""
    urls = endpoints.resolve(None, args.rpc).calls
    book = AddressBook.load(args.address_book) if args.address_book else None
    if book is None and not args.pair:
        raise BadInput("status needs --config, --address-book or at least one --pair")
    pairs = [checksum(p) for p in args.pair] or [e.address for e in book.pairs.values()]  # type: ignore[union-attr]
    names = {e.address: name for name, e in book.pairs.items()} if book else {}
    if args.holder is None and book is None:
        raise BadInput("status needs --holder (an address) without an address book")
    holder = book.account(args.holder or book.holder) if book else checksum(args.holder)
    tokens = [checksum(t) for t in args.token]
    if book:
        tokens += [t.address for t in book.tokens.values()]
    wanted = args.numeraire or (book.numeraire if book else None)
    if wanted is None:
        raise BadInput("status needs --numeraire (a token address) without an address book")
    if book and wanted in book.tokens:
        numeraire = book.tokens[wanted].address
    else:
        try:
            numeraire = checksum(wanted)
        except BadInput:
            raise BadInput(
                f"numeraire {wanted!r} is neither a token of the address book nor an address"
            ) from None
    return urls, pairs, holder, [*tokens, numeraire], numeraire, names


def report_errors(errors: Sequence[BookReadError]) -> int:
    """Name each address that could not be read on stderr; exit 2 when there was one."""
    for error in errors:
        print(f"ammkeeper: {type(error).__name__}: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT if errors else 0


def command(args: argparse.Namespace) -> int:
    if args.config is not None:
        book = Book.load(args.config)
        urls = endpoints.resolve(book, args.rpc).calls
        with options.existing_journal(args) as journal:
            result = asyncio.run(planning.plan_book(book, urls, args.block, check=False, journal=journal))
        if args.json:
            report = plan_report.as_json(result.view, result.decision)
            report.pop("plan", None)
            print(json.dumps(report, indent=2))
        else:
            print(plan_report.render_status(result.view, result.decision))
        return 0
    urls, pairs, holder, tokens, numeraire, names = _inputs(args)
    snapshot = asyncio.run(read_snapshot(urls, pairs, holder, tokens, args.block))
    table = book_table(snapshot, numeraire, names)
    print(json.dumps(as_json(table), indent=2) if args.json else render(table))
    return report_errors(snapshot.errors)
