"""`ammkeeper plan`: the book, the decision with its reason, and the plan with its costs."""

from __future__ import annotations

import argparse
import asyncio
import json

from bot.chain import endpoints
from bot.cli import options
from bot.core.book import Book
from bot.keeper import planning
from bot.report import plan_report


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    plan = sub.add_parser(
        "plan", parents=[common], help="the book, the decision with its reason, and the plan with its costs"
    )
    options.add_book(plan)
    options.add_rpc(plan)
    plan.add_argument(
        "--block", type=options.block, default="latest", help="block number or tag (default latest)"
    )
    plan.add_argument("--json", action="store_true", help="print JSON instead of text")
    options.add_journal_option(plan)
    plan.add_argument(
        "--no-simulate", action="store_true", help="do not eth_call the plan through the vault as its keeper"
    )
    plan.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    book = Book.load(args.config)
    urls = endpoints.resolve(book, args.rpc).calls
    with options.existing_journal(args) as journal:
        result = asyncio.run(planning.plan_book(book, urls, args.block, not args.no_simulate, journal))
    if args.json:
        report = plan_report.as_json(result.view, result.decision)
        report["simulation"] = result.simulation_json()
        print(json.dumps(report, indent=2))
    else:
        print(plan_report.render(result.view, result.decision))
        if result.simulation is not None:
            print(result.simulation_text())
    return 0 if result.simulation_matches in (None, True) else 1
