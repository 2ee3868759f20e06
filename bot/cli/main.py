"""The `ammkeeper` command line.

Errors are one line on stderr with no traceback; bad input (arguments, addresses, an
unreachable or unusable RPC) exits with code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from bot.chain import rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.cli import demo
from bot.cli import rebalance as manual_rebalance
from bot.core.address_book import AddressBook, checksum
from bot.core.book import Book
from bot.core.errors import BadInput, BookReadError, KeeperError, NodeError, Pending, RpcError
from bot.core.snapshot import Snapshot
from bot.keeper import fork_run, planning
from bot.keeper import service as keeper_run
from bot.ops import kill_switch
from bot.report import journal_report, plan_report
from bot.report.book_table import as_json, book_table, render
from bot.tx.journal import Journal, add_journal_option, journal_path

log = logging.getLogger("ammkeeper")

EXIT_BAD_INPUT = 2
EXIT_PENDING = 75  # EX_TEMPFAIL: a transaction of the book is pending; try again later


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: every `finally` runs (forks stopped, the journal's run record closed).

    Raised as SIGINT, so that inside `asyncio.run` its handler cancels the main task cleanly
    instead of an exception landing wherever the interpreter happens to be.
    """
    signal.raise_signal(signal.SIGINT)


def _block(text: str) -> int | str:
    if text.isdigit():
        return int(text)
    if text in ("latest", "safe", "finalized", "pending", "earliest"):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is neither a block number nor a block tag")


def _one_line(exc: BaseException) -> str:
    """An error as one line (nodes answer multi-line texts), every RPC URL's secrets masked."""
    return " | ".join(line.strip() for line in rpc.scrub(str(exc)).splitlines() if line.strip())


def _block_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a block number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ammkeeper", description="Rebalances liquidity in Uniswap V2 pools."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="the book table: reserves, price, LP held, share, value")
    status.add_argument(
        "--rpc", default=os.environ.get("AMMKEEPER_RPC_URL"), help="RPC URL (or $AMMKEEPER_RPC_URL)"
    )
    status.add_argument("--address-book", type=Path, help="address book JSON (as `ammkeeper world` writes)")
    status.add_argument(
        "--pair", action="append", default=[], help="a pair address (repeatable); default: the book's"
    )
    status.add_argument(
        "--token", action="append", default=[], help="an idle token address to show (repeatable)"
    )
    status.add_argument("--holder", help="holder: an address, or a named account of the address book")
    status.add_argument("--numeraire", help="value in this token: symbol of the address book, or an address")
    status.add_argument("--block", type=_block, default="latest", help="block number or tag (default latest)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument(
        "--config",
        type=Path,
        help="a book file: show its sleeves, weights, drift, IL and the strategy's decision",
    )

    world = sub.add_parser("world", help="build the local Uniswap V2 world (cached), optionally serve it")
    world.add_argument("--rebuild", action="store_true", help="build again even if cached")
    world.add_argument("--serve", action="store_true", help="run a node with the world until Ctrl-C")

    plan = sub.add_parser("plan", help="the book, the decision with its reason, and the plan with its costs")
    plan.add_argument("--config", type=Path, required=True, help="the book file (TOML)")
    plan.add_argument("--rpc", default=None, help="RPC URL (default: the book's rpc, or $AMMKEEPER_RPC_URL)")
    plan.add_argument("--block", type=_block, default="latest", help="block number or tag (default latest)")
    plan.add_argument("--json", action="store_true", help="print JSON instead of text")
    plan.add_argument(
        "--no-simulate", action="store_true", help="do not eth_call the plan through the vault as its keeper"
    )

    dry = sub.add_parser(
        "dry-run", help="execute the plan on an anvil fork as the keeper: predicted vs realized"
    )
    dry.add_argument("--config", type=Path, required=True, help="the book file (TOML)")
    dry.add_argument(
        "--fork-url", default=None, help="fork this RPC (default: the book's rpc, or $AMMKEEPER_RPC_URL)"
    )
    dry.add_argument(
        "--block", type=_block_number, default=None, help="fork at this block (default: the head)"
    )
    add_journal_option(dry)

    rebalance = sub.add_parser(
        "rebalance", help="plan, show, simulate, confirm, sign with the keeper's keystore, send, reconcile"
    )
    manual_rebalance.add_arguments(rebalance)

    journal = sub.add_parser("journal", help="the book's journal: runs, intents, transactions, outcomes")
    journal.add_argument("--config", type=Path, help="the book file (its journal is beside it)")
    add_journal_option(journal)
    journal.add_argument("run", nargs="?", type=int, help="show this run in full (default: list the latest)")
    journal.add_argument("--limit", type=int, default=20, help="how many runs to list (default 20)")
    journal.add_argument("--json", action="store_true", help="print JSON instead of text")

    run = sub.add_parser("run", help="the keeper: follow heads, rebalance on its own, metrics, alerts")
    keeper_run.add_arguments(run)
    switches = (
        ("pause", "turn the kill switch on: a running keeper sends nothing"),
        ("resume", "turn the kill switch off (and reset a tripped circuit breaker)"),
    )
    for name, text in switches:
        switch = sub.add_parser(name, help=text)
        switch.add_argument("--config", type=Path, required=True, help="the book file (TOML)")
        if name == "pause":
            switch.add_argument("--reason", default="paused by hand", help="why (shown in logs and /healthz)")

    demo = sub.add_parser("demo", help="the local world end to end: a market, the keeper, a report")
    demo.add_argument("--blocks", type=int, default=300, help="blocks of market simulation (default 300)")
    demo.add_argument("--out", type=Path, default=None, help="where the report and chart go")
    return parser


async def read_book(
    url: str, pairs: Sequence[str], holder: str, tokens: Sequence[str], block: int | str
) -> Snapshot:
    """One snapshot of the given pairs and tokens."""
    async with rpc.connect(url) as w3:
        return await SnapshotReader(w3).read(pairs, holder, tokens, block)


def _status_inputs(args: argparse.Namespace) -> tuple[str, list[str], str, list[str], str, dict[str, str]]:
    """(rpc url, pairs, holder, extra tokens, numeraire address, pair names) from the arguments."""
    if not args.rpc:
        raise BadInput("no RPC: pass --rpc URL or set AMMKEEPER_RPC_URL")
    url = rpc.check_url(args.rpc)
    book = AddressBook.load(args.address_book) if args.address_book else None
    if book is None and not args.pair:
        raise BadInput("status needs --address-book or at least one --pair")
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
    return url, pairs, holder, [*tokens, numeraire], numeraire, names


def cmd_status(args: argparse.Namespace) -> int:
    if args.config is not None:
        book = Book.load(args.config)
        result = asyncio.run(planning.plan_book(book, _plan_url(args, book), args.block, check=False))
        if args.json:
            report = plan_report.as_json(result.view, result.decision)
            report.pop("plan", None)
            print(json.dumps(report, indent=2))
        else:
            print(plan_report.render_status(result.view, result.decision))
        return 0
    url, pairs, holder, tokens, numeraire, names = _status_inputs(args)
    snapshot = asyncio.run(read_book(url, pairs, holder, tokens, args.block))
    table = book_table(snapshot, numeraire, names)
    print(json.dumps(as_json(table), indent=2) if args.json else render(table))
    return _report_errors(snapshot.errors)


def _plan_url(args: argparse.Namespace, book: Book) -> str:
    return planning.book_url(args.rpc, book)


def cmd_plan(args: argparse.Namespace) -> int:
    book = Book.load(args.config)
    result = asyncio.run(planning.plan_book(book, _plan_url(args, book), args.block, not args.no_simulate))
    if args.json:
        report = plan_report.as_json(result.view, result.decision)
        report["simulation"] = result.simulation_json()
        print(json.dumps(report, indent=2))
    else:
        print(plan_report.render(result.view, result.decision))
        if result.simulation is not None:
            print(result.simulation_text())
    return 0 if result.simulation_matches in (None, True) else 1


def cmd_dry_run(args: argparse.Namespace) -> int:
    with (
        Journal.open(journal_path(args.journal, args.config)) as journal,
        journal.recording("dry-run", args.config) as record,
    ):
        book = Book.load(args.config)
        source = rpc.check_url(args.fork_url) if args.fork_url else _plan_url(args, book)
        journal.describe_run(record.id, endpoint=rpc.endpoint_label(source), chain_id=book.chain_id)
        run = fork_run.run_on_fork(
            book, source, args.block, lambda line: print(line, flush=True), journal, record
        )
        journal.describe_run(record.id, keeper=run.result.keeper)
        lines, code = fork_run.report(run)
        print("\n".join(lines))
        if run.outcome is None:
            record.status, record.message = "held", run.result.decision.reason
        elif code == 0:
            record.status, record.message = "matched", "realized equals predicted"
        else:
            record.status = "reverted" if not run.outcome.receipt.success else "mismatch"
            record.message = "; ".join(run.outcome.mismatches())
        return code


def cmd_rebalance(args: argparse.Namespace) -> int:
    return manual_rebalance.rebalance(args, lambda text: print(text, flush=True), input)


def cmd_journal(args: argparse.Namespace) -> int:
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


def _report_errors(errors: Sequence[BookReadError]) -> int:
    for error in errors:
        print(f"ammkeeper: {type(error).__name__}: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT if errors else 0


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a served world is meant to end
        stop.wait()


def cmd_world(args: argparse.Namespace) -> int:
    from anvil.world import ensure_world, start_world

    files = ensure_world(rebuild=args.rebuild)
    print(f"world state:  {files.state}")
    print(f"address book: {files.book}")
    if not args.serve:
        return 0
    node, _ = start_world(files=files)
    try:
        print(f"serving the world at {node.url} (Ctrl-C stops it)", flush=True)
        _wait_for_ctrl_c()
    finally:
        node.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from anvil.world import ensure_world, start_world

    print("ammkeeper demo: a local Uniswap V2 world on anvil (real V2 bytecode), read in one eth_call\n")
    files = ensure_world()
    node, book = start_world(files=files)
    try:
        tokens = [t.address for t in book.tokens.values()]
        pairs = [e.address for e in book.pairs.values()]
        snapshot = asyncio.run(read_book(node.url, pairs, book.accounts[book.holder], tokens, "latest"))
        names = {e.address: name for name, e in book.pairs.items()}
        print(render(book_table(snapshot, book.tokens[book.numeraire].address, names)))
        print(f"\n--- ammkeeper plan --config {files.config} ---\n")
        result = asyncio.run(planning.plan_book(Book.load(files.config), node.url))
        print(plan_report.render(result.view, result.decision))
        print(result.simulation_text())
        print(f"\n--- ammkeeper dry-run --config {files.config} --fork-url {node.url} ---\n")
        run = fork_run.run_on_fork(Book.load(files.config), node.url, None, print)
        lines, code = fork_run.execution_report(run)
        print("\n".join(lines[1:] if run.outcome else lines))
        print(f"\nnode: {node.url} (stopped on exit); address book: {files.book}; book: {files.config}")
        print(f"try: ammkeeper world --serve, then ammkeeper plan --rpc URL --config {files.config}")
        print(
            f"     ammkeeper rebalance --rpc URL --config {files.config} --keystore {files.keeper_keystore} "
            f"--password-file {files.keeper_password}"
        )
        if result.simulation_matches is False or code != 0:
            return 1
        if _report_errors(snapshot.errors):
            return EXIT_BAD_INPUT
    finally:
        node.stop()
    print("\n--- ammkeeper run: the keeper on its own while a simulated market moves prices ---\n")
    return demo.run(print, args.blocks, args.out)


def cmd_run(args: argparse.Namespace) -> int:
    return keeper_run.run(args)


def cmd_pause(args: argparse.Namespace) -> int:
    path = kill_switch.pause_path(args.config, Book.load(args.config))
    kill_switch.pause(path, args.reason)
    print(f"paused: {path} (a running keeper sends nothing until `ammkeeper resume --config {args.config}`)")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    path = kill_switch.pause_path(args.config, Book.load(args.config))
    if kill_switch.resume(path):
        print(f"resumed: {path} removed")
    else:
        print(f"not paused ({path} does not exist)")
    return 0


COMMANDS = {
    "status": cmd_status,
    "plan": cmd_plan,
    "dry-run": cmd_dry_run,
    "rebalance": cmd_rebalance,
    "journal": cmd_journal,
    "world": cmd_world,
    "demo": cmd_demo,
    "run": cmd_run,
    "pause": cmd_pause,
    "resume": cmd_resume,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ammkeeper` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return COMMANDS[args.command](args)
    except Pending as exc:
        print(f"ammkeeper: {_one_line(exc)}", file=sys.stderr)
        return EXIT_PENDING
    except (BadInput, BookReadError, RpcError) as exc:
        print(f"ammkeeper: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (NodeError, KeeperError) as exc:
        print(f"ammkeeper: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ammkeeper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
