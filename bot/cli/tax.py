"""`ammkeeper tax`: the book's cost-basis ledger, its realized gains, and the files an accountant
takes (`report`), the open lots (`lots`), and a deposit's basis as the owner knows it (`basis`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.chain import endpoints
from bot.cli import options
from bot.core.book import Book, Tax
from bot.core.errors import BadInput
from bot.core.tax_ledger import OPENING, Replay, Transfer, view_quotes, year_of
from bot.keeper.tax_books import TaxBook, read_tax_book
from bot.report import tax_report
from bot.tx.journal import Journal, journal_path

FORMATS = ("text", "json", "8949", "koinly", "audit")
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser(
        "tax", parents=[common], help="cost-basis lots, realized gains, reports for an accountant"
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    report = verbs.add_parser("report", parents=[common], help="realized gains of a year, as text or a file")
    lots = verbs.add_parser("lots", parents=[common], help="the open lots and their unrealized gains")
    basis = verbs.add_parser(
        "basis", parents=[common], help="a deposit's basis (and holding start) as the owner knows it"
    )
    for p in (report, lots, basis):
        options.add_book(p)
        options.add_rpc(p)
        options.add_journal_option(p)
    for p in (report, lots):
        p.add_argument(
            "--method",
            choices=("fifo", "lifo", "hifo", "specific"),
            help="lot selection (default the book's [tax] method, or hifo)",
        )
        p.add_argument(
            "--lp",
            choices=("trade", "non-taxable"),
            help="how LP deposits and withdrawals are taxed (default the book's)",
        )
    report.add_argument("--year", type=int, required=True, help="the calendar year (UTC)")
    report.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text, json, 8949 (Form 8949 rows, CSV), koinly (Koinly universal CSV), "
        "audit (JSON: every rebalance)",
    )
    report.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    lots.add_argument("--json", action="store_true", help="print JSON instead of text")
    basis.add_argument(
        "--tx",
        required=True,
        help=f"the deposit's transaction hash, or {OPENING} (the holdings at [tax] start_block)",
    )
    basis.add_argument(
        "item", help="SYMBOL=COST (the whole deposit's basis in the numeraire), or PAIR LP=COST"
    )
    basis.add_argument(
        "--acquired", help="when the owner acquired it (YYYY-MM-DD, UTC; default the deposit's block)"
    )
    parser.set_defaults(func=command)


def rules_book(book: Book, args: argparse.Namespace) -> Book:
    """The book with `[tax]` (its own, or the defaults) and the command's overrides."""
    tax = book.tax or Tax()
    update = {
        k: v for k, v in (("method", getattr(args, "method", None)), ("lp", getattr(args, "lp", None))) if v
    }
    return book.model_copy(update={"tax": tax.model_copy(update=update)})


def _ledger(args: argparse.Namespace, book: Book) -> TaxBook:
    urls = endpoints.resolve(book, args.rpc).calls
    with options.existing_journal(args) as journal:
        if journal is not None:
            journal.bind(book.vault, book.chain_id)
        return asyncio.run(read_tax_book(book, urls, journal))


def _in_year(replay: Replay, year: int) -> Replay:
    """The events of one calendar year (a bundle's moment is its plan's block)."""
    return Replay(replay.ledger, tuple(a for a in replay.applied if year_of(a.event.at) == year))


def report(args: argparse.Namespace, book: Book) -> int:
    if not 1970 <= args.year <= 9999:
        raise BadInput(f"--year {args.year}: a calendar year, 1970 to 9999")
    if args.out is not None and not args.out.parent.is_dir():
        raise BadInput(f"--out {args.out}: its folder does not exist")
    taxed = _ledger(args, book)
    rules, numeraire = taxed.rules, book.numeraire
    year = _in_year(taxed.replay, args.year)
    disposals = year.disposals
    if args.format == "8949":
        text = tax_report.form_8949(disposals, rules)
    elif args.format == "koinly":
        text = tax_report.koinly(year.applied, rules, numeraire, taxed.facts)
    elif args.format == "audit":
        text = json.dumps(tax_report.audit(year.applied, rules, taxed.facts), indent=2) + "\n"
    elif args.format == "json":
        text = json.dumps(tax_report.year_json(disposals, args.year, rules, numeraire), indent=2) + "\n"
    else:
        settings = rules.tax
        lines = [
            f"{book.name}: {settings.method}, LP as {settings.lp}, "
            f"long term after {settings.long_term_days} days",
            *tax_report.summary_lines(disposals, args.year, numeraire),
        ]
        if disposals:
            lines += ["", tax_report.disposals_table(disposals, rules)]
        text = "\n".join(lines) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"{args.format} report of {args.year}: {len(disposals)} disposals, written to {args.out}")
    return 0


def lots(args: argparse.Namespace, book: Book) -> int:
    taxed = _ledger(args, book)
    open_lots = list(taxed.replay.ledger.open_lots())
    prices = {a: q.price for a, q in view_quotes(taxed.view).items()}
    if args.json:
        print(json.dumps(tax_report.lots_json(open_lots, taxed.rules, prices, taxed.view.now), indent=2))
    else:
        print(f"{book.name}: open lots at block {taxed.view.now.block} ({taxed.rules.tax.method})")
        print(tax_report.lots_table(open_lots, taxed.rules, prices, taxed.view.now))
    return 0


def _cost(text: str) -> tuple[str, Decimal]:
    label, sep, value = text.rpartition("=")
    try:
        cost = Decimal(value)
    except InvalidOperation:
        cost = Decimal(-1)
    if not sep or not label or not cost.is_finite() or cost < 0:
        raise BadInput(f"{text!r}: expected SYMBOL=COST, the deposit's whole basis (a number >= 0)")
    return label.strip(), cost


def _day(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.UTC).timestamp())
    except ValueError:
        raise BadInput(f"--acquired {text!r}: expected a date, YYYY-MM-DD") from None


def basis(args: argparse.Namespace, book: Book) -> int:
    label, cost = _cost(args.item)
    acquired = _day(args.acquired)
    if args.tx != OPENING and not TX_HASH.match(args.tx):
        raise BadInput(f"--tx {args.tx!r}: expected a transaction hash (0x and 64 hex digits), or {OPENING}")
    path = journal_path(args.journal, args.config)
    if not path.is_file():
        raise BadInput(f"journal {path} does not exist: the keeper, a rebalance or `tax lots` creates it")
    taxed = _ledger(args, book)
    assets = {info.label: a for a, info in taxed.rules.assets.items()}
    if label not in assets:
        raise BadInput(f"{label!r} is not a token or LP of the book ({', '.join(sorted(assets))})")
    deposits = [
        d.event
        for d in taxed.replay.applied
        if isinstance(d.event, Transfer)
        and d.event.kind == "deposit"
        and d.event.tx_hash.lower() == args.tx.lower()
    ]
    if not any(t.asset == assets[label] for t in deposits):
        raise BadInput(f"no deposit of {label} in {args.tx} (`ammkeeper tax lots` lists the deposits' lots)")
    tx_hash = next(t.tx_hash for t in deposits if t.asset == assets[label])
    when = min(t.at.timestamp for t in deposits)
    if acquired is not None and acquired > when:
        raise BadInput(f"--acquired {args.acquired}: after the deposit itself")
    with Journal.open(path) as journal:
        journal.set_basis(
            taxed.view.snapshot.chain_id, book.vault, tx_hash, assets[label], str(cost), acquired
        )
    print(
        f"deposit {tx_hash}: {label} basis {cost} {book.numeraire}"
        + (f", held since {args.acquired}" if args.acquired else "")
    )
    return 0


def command(args: argparse.Namespace) -> int:
    book = rules_book(Book.load(args.config), args)
    if args.verb == "report":
        return report(args, book)
    if args.verb == "lots":
        return lots(args, book)
    return basis(args, book)
