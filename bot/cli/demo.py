"""`ammkeeper demo`: the local world, a simulated market, the keeper on its own, and a report.

Orchestration for the README's first command: nothing to configure. The world is started
(12 s blocks, mined one at a time by the market), the keeper runs in this process exactly as
`ammkeeper run` does (the same `run_keeper`), and the market thread trades and mines beside it.
Afterwards the chain is read back at sampled blocks to value the book against holding what
it held at the start and against the start's LP never rebalanced; the report is printed and saved
with a chart drawn by matplotlib (the backtest's plotting code).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import math
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bot.chain import endpoints, rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.cli import options
from bot.cli.status import read_snapshot, report_errors
from bot.core.amm import lp_share_amounts, sqrt_k_per_share
from bot.core.book import Book
from bot.core.valuation import BookView, value_book
from bot.keeper import fork_run, planning
from bot.keeper.service import Running, run_keeper
from bot.keeper.step import Step
from bot.report import backtest_charts, plan_report
from bot.report.book_table import book_table, render
from bot.tx.journal import Journal

SAMPLE_EVERY = 5
DEMO_BAND = "0.0075"
DEMO_DRIFT = {"WETH": 0.0005, "WBTC": -0.0001, "LINK": -0.0008}  # per 12 s block


@dataclass(frozen=True, slots=True)
class Sample:
    block: int
    value: float  # the keeper's book, in the numeraire
    hold: float  # the start's holdings at this block's prices
    lp: float  # the start's LP and idle tokens, never rebalanced, at this block


def demo_book(world_config: str) -> str:
    """The world's book, tuned for a demo's fast heads (the market mines a block every ~0.15 s)."""
    tight = world_config.replace("band = 0.02\n", f"band = {DEMO_BAND}\n")  # an hour is short: tighter bands
    if tight == world_config:
        raise ValueError("the world's book no longer has 'band = 0.02': update the demo book")
    extra = "[keeper]\nblock_time_s = 0.05\nrate_limit_per_s = 2000\n\n"
    extra += "[guards]\nmax_twap_deviation = 0.1\nmin_gas_balance = 1\n"
    return tight + "\n" + extra


def _held(view: BookView) -> dict[str, int]:
    """Every token the book holds (LP as its underlying), by address, in base units."""
    held: dict[str, int] = {}
    for sleeve in view.sleeves:
        for address, amount in sleeve.amounts.items():
            held[address] = held.get(address, 0) + amount
    return held


def _never_rebalanced(start: BookView, view: BookView) -> dict[str, int]:
    """What the start's LP and idle tokens hold at `view`'s block (the LP's share of the pools then)."""
    held: dict[str, int] = {}
    for sleeve in start.sleeves:
        if sleeve.pair is None:
            amounts = dict(sleeve.amounts)
        else:
            pair = view.pairs[sleeve.sleeve.pair or ""]
            a0, a1 = lp_share_amounts(sleeve.lp, pair.reserve0, pair.reserve1, pair.total_supply)
            amounts = {pair.token0.address: a0, pair.token1.address: a1}
        for address, amount in amounts.items():
            held[address] = held.get(address, 0) + amount
    return held


def _value(amounts: dict[str, int], view: BookView) -> Fraction:
    decimals = {t.address: t.decimals for t in view.tokens.values()}
    return sum(
        (
            view.prices[a].value * Fraction(n, 10 ** decimals[a])
            for a, n in amounts.items()
            if a in view.prices
        ),
        Fraction(0),
    )


async def _views(url: str, book: Book, blocks: Sequence[int]) -> list[BookView]:
    async with rpc.connect(url) as w3:
        reader = SnapshotReader(w3)
        pairs = list(book.pairs.values())
        tokens = [t.address for t in book.tokens.values()]
        return [value_book(book, await reader.read(pairs, book.vault, tokens, b)) for b in blocks]


def _lp_split(start: BookView, end: BookView) -> tuple[Fraction, Fraction]:
    """(fees, IL) of the LP the book held at the start, had it been left alone: its value at the
    end minus its start underlying at end prices, split by fee growth per LP share (√k/T)."""
    fees = Fraction(0)
    total = Fraction(0)
    decimals = {t.address: t.decimals for t in end.tokens.values()}
    for sleeve in start.sleeves:
        if sleeve.pair is None or not sleeve.lp:
            continue
        before, after = sleeve.pair, end.pairs[sleeve.sleeve.pair or ""]
        a0, a1 = lp_share_amounts(sleeve.lp, after.reserve0, after.reserve1, after.total_supply)
        lp_end = _value({after.token0.address: a0, after.token1.address: a1}, end)
        total += lp_end - _value(dict(sleeve.amounts), end)
        growth = sqrt_k_per_share(after.reserve0, after.reserve1, after.total_supply) - sqrt_k_per_share(
            before.reserve0, before.reserve1, before.total_supply
        )
        p0 = end.prices[after.token0.address].value / 10 ** decimals[after.token0.address]
        p1 = end.prices[after.token1.address].value / 10 ** decimals[after.token1.address]
        fees += sleeve.lp * growth * 2 * Fraction(math.sqrt(float(p0 * p1)))
    return fees, total - fees


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    demo = sub.add_parser(
        "demo", parents=[common], help="the local world end to end: a market, the keeper, a report"
    )
    demo.add_argument(
        "--blocks", type=options.positive_int, default=300, help="blocks of market simulation (default 300)"
    )
    demo.add_argument("--out", type=Path, default=None, help="where the report and chart go")
    demo.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from anvil.world import ensure_world, start_world

    print("ammkeeper demo: a local Uniswap V2 world on anvil (real V2 bytecode), read in one eth_call\n")
    files = ensure_world()
    node, book = start_world(files=files)
    try:
        tokens = [t.address for t in book.tokens.values()]
        pairs = [e.address for e in book.pairs.values()]
        snapshot = asyncio.run(read_snapshot([node.url], pairs, book.accounts[book.holder], tokens, "latest"))
        names = {e.address: name for name, e in book.pairs.items()}
        print(render(book_table(snapshot, book.tokens[book.numeraire].address, names)))
        print(f"\n--- ammkeeper plan --config {files.config} ---\n")
        result = asyncio.run(planning.plan_book(Book.load(files.config), node.url))
        print(plan_report.render(result.view, result.decision))
        print(result.simulation_text())
        print(f"\n--- ammkeeper dry-run --config {files.config} --fork-url {node.url} ---\n")
        forked = fork_run.run_on_fork(Book.load(files.config), node.url, None, print)
        lines, code = fork_run.execution_report(forked)
        print("\n".join(lines))
        print(f"\nnode: {node.url} (stopped on exit); address book: {files.book}; book: {files.config}")
        print(f"try: ammkeeper world --serve, then ammkeeper plan --rpc URL --config {files.config}")
        print(
            f"     ammkeeper rebalance --rpc URL --config {files.config} --keystore {files.keeper_keystore} "
            f"--password-file {files.keeper_password}"
        )
        if result.simulation_matches is False or code != 0:
            return 1
        if report_errors(snapshot.errors):
            return 2  # a pair of the world could not be read: named above
    finally:
        node.stop()
    print("\n--- ammkeeper run: the keeper on its own while a simulated market moves prices ---\n")
    return run(print, args.blocks, args.out)


def run(
    out: Callable[[str], None],
    blocks: int = 300,
    out_dir: Path | None = None,
    then: Callable[[str, int, int, Path], None] | None = None,
) -> int:
    """The whole demo; the exit code (0: every bundle executed as predicted).

    Args:
        then: called with (node URL, first block, last block, book file) while the node still runs
            (a test replays the demo's history there).
    """
    bot_log = logging.getLogger("bot")
    level = bot_log.level
    bot_log.setLevel(logging.ERROR)  # the demo prints the keeper's actions itself
    try:
        return _run(out, blocks, out_dir, then)
    finally:
        bot_log.setLevel(level)  # as it was: a test runs the demo inside its own process


def _run(
    out: Callable[[str], None],
    blocks: int,
    out_dir: Path | None,
    then: Callable[[str, int, int, Path], None] | None,
) -> int:
    from anvil.market import Market, PricePath
    from anvil.world import ACCOUNT_NAMES, dev_key, ensure_world, start_world

    started = time.monotonic()
    files = ensure_world()
    out_dir = out_dir or files.state.parent.parent.parent / "demo"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    book_path = out_dir / "book.toml"
    book_path.write_text(demo_book(files.config.read_text()))
    book = Book.load(book_path)
    node, address_book = start_world(files=files)
    try:
        node.rpc("anvil_setBlockTimestampInterval", 12)
        node.rpc("evm_setAutomine", False)
        # an hour in which ETH rallies while LINK bleeds: the weights drift apart
        market = Market(node, address_book, PricePath(seed=7, drift=DEMO_DRIFT))
        start_block = int(node.rpc("eth_blockNumber"), 16)
        out(f"world on {node.url}: block {start_block}; the market trades {blocks} blocks (12 s each), "
            "the keeper follows every head\n")  # fmt: skip
        account: LocalAccount = Account.from_key(dev_key(ACCOUNT_NAMES.index("keeper")))
        steps: list[Step] = []
        with Journal.open(book_path.with_name("book.journal.sqlite")) as journal:
            with journal.recording("keeper", book_path) as record:
                _keep(node.url, book, book_path, account, journal, record, market, blocks, steps, out)
                record.status = "stopped"
            end_block = int(node.rpc("eth_blockNumber"), 16)
            outcomes = journal.recent_outcomes(book.chain_id or 0, book.vault, start_block)
            gas_wei = journal.gas_spent_since(book.chain_id or 0, book.vault, 0)
            matched = all(r["matches"] == 1 for r in _outcome_rows(journal))
        sampled = sorted({*range(start_block, end_block + 1, SAMPLE_EVERY), end_block})
        views = asyncio.run(_views(node.url, book, sampled))
        if then is not None:
            then(node.url, start_block, end_block, book_path)
    finally:
        node.stop()
    start_view, end_view = views[0], views[-1]
    start_held = _held(start_view)
    samples = [
        Sample(
            v.snapshot.block_number,
            float(v.total),
            float(_value(start_held, v)),
            float(_value(_never_rebalanced(start_view, v), v)),
        )
        for v in views
    ]
    fees, il = _lp_split(start_view, end_view)
    gas_value = Fraction(gas_wei, 10**18) * end_view.native_price
    report: dict[str, Any] = {
        "blocks": end_block - start_block,
        "start_value": samples[0].value,
        "end_value": samples[-1].value,
        "hold_value": samples[-1].hold,
        "value_vs_hold": samples[-1].value - samples[-1].hold,
        "lp_value": samples[-1].lp,
        "value_vs_lp": samples[-1].value - samples[-1].lp,
        "lp_fees_earned": float(fees),
        "lp_impermanent_loss": float(il),
        "gas_spent_native": gas_wei / 1e18,
        "gas_spent_value": float(gas_value),
        "rebalances": len(outcomes),
        "rebalance_blocks": [block for _, _, block, _ in outcomes],
        "all_as_predicted": matched,
        "heads": len(steps),
        "actions": {a: sum(s.action == a for s in steps) for a in sorted({s.action for s in steps})},
        "market_trades": market.trades,
        "prices_end": {s: float(end_view.price(s)) for s in ("WETH", "WBTC", "LINK")},
        "seconds": round(time.monotonic() - started, 1),
    }
    text = _render(report, book.numeraire)
    (out_dir / "report.txt").write_text(text + "\n")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    saved = [out_dir / "report.txt", out_dir / "report.json"]
    if importlib.util.find_spec("matplotlib") is None:  # the lean runtime: no plotting stack
        out("(no chart: matplotlib is not installed; pip install 'ammkeeper[backtest]')")
    else:
        chart = backtest_charts.value_chart(
            [s.block - start_block for s in samples],
            {
                "policy": [s.value for s in samples],
                "hold": [s.hold for s in samples],
                "lp": [s.lp for s in samples],
            },
            markers=[b - start_block for b in report["rebalance_blocks"]],
            title=f"book value in {book.numeraire}: keeper, holding, LP never rebalanced",
            unit=book.numeraire,
            x_label="blocks since the start",
        )
        (out_dir / "chart.png").write_bytes(chart)
        saved.append(out_dir / "chart.png")
    out(text)
    out(f"\nsaved: {', '.join(str(p) for p in saved)}")
    out(f"journal: ammkeeper journal --journal {out_dir / 'book.journal.sqlite'}")
    return 0 if matched and report["rebalances"] > 0 else 1


def _outcome_rows(journal: Journal) -> list[dict[str, Any]]:
    """Every outcome of the journal (an intent without one, still unresolved, counts as matching)."""
    records = [journal.run_record(r["id"]) for r in journal.runs()]
    return [i.get("outcome") or {"matches": 1} for r in records for i in r["intents"]]


def _keep(url: str, book: Book, book_path: Path, account: LocalAccount, journal: Journal, record: Any,
          market: Any, blocks: int, steps: list[Step], out: Callable[[str], None]) -> None:  # fmt: skip
    """The keeper in this thread's event loop, the market in another thread; both stop after `blocks`."""

    async def main() -> None:
        def ready(running: Running) -> None:
            loop = asyncio.get_running_loop()

            def trade() -> None:
                try:
                    for _ in range(blocks):
                        _wait_for_keeper(steps, market.head())
                        market.block()
                    _wait_for_keeper(steps, market.head())
                except BaseException as exc:  # re-raised in the main thread below
                    failures.append(exc)
                finally:
                    loop.call_soon_threadsafe(running.stop)

            threading.Thread(target=trade, daemon=True).start()

        def step(step: Step) -> None:
            steps.append(step)
            if step.action in ("sent", "failed", "refused") or (
                step.action == "hold" and len(steps) % 50 == 1
            ):
                out(f"  head {step.head}: {step.action}: {step.reason[:150]}")

        await run_keeper(book, book_path, account, journal, record, endpoints.resolve(book, [url]),
                         on_ready=ready, on_step=step, handle_signals=False)  # fmt: skip

    failures: list[BaseException] = []
    asyncio.run(main())
    if failures:
        raise failures[0]


def _wait_for_keeper(steps: list[Step], head: int, timeout_s: float = 10.0) -> None:
    """Until the keeper has handled `head` (a real chain does not wait; the demo does, so that
    every bundle lands in the block after the one it was planned on, as on a quiet chain)."""
    deadline = time.monotonic() + timeout_s
    while not (steps and steps[-1].head >= head) and time.monotonic() < deadline:
        time.sleep(0.01)


def _render(report: dict[str, Any], numeraire: str) -> str:
    def money(x: float) -> str:
        return f"{x:,.2f} {numeraire}"

    actions = ", ".join(f"{k} {v}" for k, v in report["actions"].items())
    return "\n".join([
        "",
        f"--- report: {report['blocks']} blocks, {report['market_trades']} market trades, "
        f"{report['seconds']} s ---",
        f"book value         {money(report['start_value'])} -> {money(report['end_value'])}",
        f"holding the start  {money(report['hold_value'])}",
        f"keeper vs holding  {money(report['value_vs_hold'])}",
        f"LP never rebalanced {money(report['lp_value'])}; keeper vs it {money(report['value_vs_lp'])}",
        f"LP fees earned     {money(report['lp_fees_earned'])}  (the start LP: growth of sqrt(k) per share)",
        f"impermanent loss   {money(report['lp_impermanent_loss'])}  (the start LP vs its tokens held)",
        f"gas spent          {report['gas_spent_native']:.6f} ETH = {money(report['gas_spent_value'])}",
        f"rebalances         {report['rebalances']} at blocks {report['rebalance_blocks']}; "
        f"realized equals predicted: {'yes' if report['all_as_predicted'] else 'NO'}",
        f"keeper heads       {report['heads']} ({actions})",
        "prices at the end  " + ", ".join(f"{s} {p:,.2f}" for s, p in report["prices_end"].items()),
    ])  # fmt: skip
