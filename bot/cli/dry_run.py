"""`ammkeeper dry-run`: the plan executed on an anvil fork as the keeper, predicted against realized."""

from __future__ import annotations

import argparse
import json

from bot.chain import endpoints
from bot.cli import options
from bot.core.book import Book
from bot.keeper import fork_run
from bot.tx.journal import Journal, journal_path


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    dry = sub.add_parser(
        "dry-run",
        parents=[common],
        help="execute the plan on an anvil fork as the keeper: predicted vs realized",
    )
    options.add_book(dry)
    dry.add_argument(
        "--fork-url",
        default=None,
        help="fork this RPC (default: the first of --rpc, the book's rpc, or $AMMKEEPER_RPC_URL)",
    )
    options.add_rpc(dry)
    dry.add_argument(
        "--block", type=options.block_number, default=None, help="fork at this block (default: the head)"
    )
    options.add_journal_option(dry)
    dry.add_argument(
        "--json", action="store_true", help="one JSON object: the plan, the checks and what the fork did"
    )
    dry.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    with (
        Journal.open(journal_path(args.journal, args.config)) as journal,
        journal.recording("dry-run", args.config) as record,
    ):
        book = Book.load(args.config)
        journal.bind(book.vault, book.chain_id)
        if args.fork_url:
            source = endpoints.check_url(args.fork_url)
        else:
            source = endpoints.resolve(book, args.rpc).calls[0]
        journal.describe_run(record.id, endpoint=endpoints.endpoint_label(source), chain_id=book.chain_id)
        say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
        run = fork_run.run_on_fork(book, source, args.block, say, journal, record)
        journal.describe_run(record.id, keeper=run.result.keeper)
        lines, code = fork_run.report(run)
        if args.json:
            print(json.dumps(fork_run.report_json(run), indent=2))
        else:
            print("\n".join(lines))
        if run.outcome is None:
            record.status, record.message = "held", run.result.decision.reason
        elif code == 0:
            record.status, record.message = "matched", "realized equals predicted"
        else:
            record.status = "reverted" if not run.outcome.receipt.success else "mismatch"
            record.message = "; ".join(run.outcome.mismatches())
        return code
