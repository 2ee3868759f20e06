"""`ammkeeper journal`: the book's runs, intents, transactions and outcomes."""

from __future__ import annotations

import argparse
import json

from bot.cli import options
from bot.core.errors import BadInput
from bot.report import journal_report
from bot.tx.journal import Journal, journal_path


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    journal = sub.add_parser(
        "journal", parents=[common], help="the book's journal: runs, intents, transactions, outcomes"
    )
    options.add_book(journal, required=False, help="the book file (its journal is beside it)")
    options.add_journal_option(journal)
    journal.add_argument("run", nargs="?", type=int, help="show this run in full (default: list the latest)")
    journal.add_argument(
        "--limit", type=options.positive_int, default=20, help="how many runs to list (default 20)"
    )
    journal.add_argument("--json", action="store_true", help="print JSON instead of text")
    journal.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    path = journal_path(args.journal, args.config)
    if not path.is_file():
        raise BadInput(f"no journal at {path}: nothing has run for this book yet")
    with Journal.open(path) as journal:
        if args.run is not None:
            record = journal.run_record(args.run)
            print(json.dumps(record, indent=2) if args.json else journal_report.render_run(record))
            return 0
        runs = journal.runs(args.limit)
        print(json.dumps(runs, indent=2) if args.json else journal_report.render_runs(runs))
    return 0
