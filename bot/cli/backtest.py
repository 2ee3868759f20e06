"""`ammkeeper backtest`: does this policy pay? The book's own strategy, planner, cost gate and guards
over a history (synthetic regimes or price files), against holding the start tokens and against the
start LP never rebalanced; sweeps over local processes or a Dask cluster."""

from __future__ import annotations

import argparse
import asyncio
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.chain import endpoints
from bot.cli import options
from bot.core import sweep as sweeps
from bot.core.backtest import Result, Settings
from bot.core.book import Book
from bot.core.book_settings import with_settings
from bot.core.errors import BadInput
from bot.core.performance import summary
from bot.core.snapshot import Snapshot
from bot.core.vault_guards import VaultGuards
from bot.keeper import backtest_run
from bot.keeper.backtest_jobs import HistorySpec, Job
from bot.report import backtest_report


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "backtest",
        parents=[common],
        help="the book's policy over a history, against holding and against the LP never rebalanced",
    )
    options.add_book(p, required=False, help="the book file (TOML); with --world, default the world's")
    options.add_rpc(p)
    p.add_argument(
        "--world",
        action="store_true",
        help="start from the local world (started for the read): no node needed",
    )
    p.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="SOURCE",
        help="scenario:NAME[,key=value…] (calm, bull, bear, crash, depeg, gas_spike, chop, all), "
        "csv:SYMBOL=FILE[,…][,step=1h][,gas=GWEI], or chain (with --from-block); repeatable",
    )
    p.add_argument(
        "--block",
        type=options.block,
        default="latest",
        help="the book's state to start from (default latest)",
    )
    p.add_argument(
        "--from-block",
        type=options.block_number,
        help="chain history: the book's state here, then the blocks after",
    )
    p.add_argument(
        "--to-block", type=options.block_number, help="chain history: the last block (default the head)"
    )
    p.add_argument(
        "--cache-dir", type=Path, default=Path(".cache/history"),
        help="where a chain history's logs and headers are kept (default .cache/history)",
    )  # fmt: skip
    p.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="change the book for the run, e.g. policy.band=0.03 or strategy.kind=calendar; repeatable",
    )  # fmt: skip
    p.add_argument(
        "--compare", action="append", default=[], metavar="STRATEGY",
        help="another strategy on the same history, e.g. 'calendar,every=1d' or 'threshold'; repeatable",
    )  # fmt: skip
    p.add_argument("--sweep", type=Path, help="a TOML grid of settings (and histories) to run every point of")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=options.positive_int, default=1, help="local processes (default 1)")
    where.add_argument("--scheduler", help="a Dask scheduler's address, e.g. tcp://host:8786")
    p.add_argument("--noise", type=float, default=0.0, help="uninformed volume a day, a share of each pool")
    p.add_argument(
        "--adversary",
        type=float,
        default=0.0,
        help="share (0-1) of each bundle's loss bound an adversary takes",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the uninformed traders")
    p.add_argument(
        "--samples", type=options.positive_int, default=2_000,
        help="about how many steps the series and steps CSV keep per history (default 2000)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, help="write report.txt, report.json, steps CSVs and report.html here")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=command)


def _compare_settings(text: str) -> tuple[str, ...]:
    """'calendar,every=1d' -> strategy.kind=calendar, strategy.every=1d."""
    kind, *rest = [part.strip() for part in text.split(",")]
    if not kind or "=" in kind:
        raise BadInput(f"--compare {text!r}: expected a strategy kind first, e.g. 'calendar,every=1d'")
    out = [f"strategy.kind={kind}"]
    for part in rest:
        if "=" not in part:
            raise BadInput(f"--compare {text!r}: {part!r} is not key=value")
        out.append(f"strategy.{part}")
    return tuple(out)


def _sim(args: argparse.Namespace) -> Settings:
    if not 0 <= args.adversary <= 1:
        raise BadInput(f"--adversary {args.adversary}: a share between 0 and 1")
    if not 0 <= args.noise <= 100:
        raise BadInput(f"--noise {args.noise}: a share of each pool a day, 0 to 100")
    return Settings(noise_volume=args.noise, seed=args.seed, adversary=args.adversary, samples=args.samples)


def _histories(
    args: argparse.Namespace, specs: Sequence[str], book: Book, urls: Sequence[str]
) -> list[tuple[HistorySpec, Snapshot, VaultGuards]]:
    """Each history with the book's state it starts from, and the vault's guards there: the
    chain's at --from-block for a chain history, else at --block."""
    out: list[tuple[HistorySpec, Snapshot, VaultGuards]] = []
    start: tuple[Snapshot, VaultGuards] | None = None
    chain = [spec for spec in specs if spec in ("chain", "chain:")]
    if chain and args.from_block is None:
        raise BadInput("--history chain needs --from-block N (and --to-block M, default the head)")
    if args.from_block is not None and not chain:
        raise BadInput("--from-block and --to-block are for --history chain")
    parsed = {spec: backtest_run.histories(spec, book) for spec in specs if spec not in chain}
    for spec in specs:
        if spec in chain:
            out.append(
                asyncio.run(
                    backtest_run.read_chain_history(
                        book, urls, args.from_block, args.to_block, args.cache_dir
                    )
                )
            )
            continue
        if start is None:
            start = asyncio.run(backtest_run.read_start(book, urls, args.block))
        out += [(history, *start) for history in parsed[spec]]
    return out


def command(args: argparse.Namespace) -> int:
    if args.world:
        if args.rpc:
            raise BadInput("--world starts its own node: give --world or --rpc, not both")
        from anvil.world import ensure_world, start_world

        files = ensure_world()
        args.config = args.config or files.config
        node, _ = start_world(files=files)
        try:
            args.rpc = [node.url]
            return _command(args)
        finally:
            node.stop()
    if args.config is None:
        raise BadInput("give --config BOOK (or --world for the local world's book)")
    return _command(args)


def _command(args: argparse.Namespace) -> int:
    if args.out is not None:
        _out_dir(args.out)  # before a long run, not after it
    raw = Book.read_raw(args.config)
    base = tuple(args.settings)
    book = Book.parse(with_settings(raw, base), str(args.config))
    sim = _sim(args)
    grid = None
    specs = list(args.history)
    if args.sweep is not None:
        try:
            grid = sweeps.parse(tomllib.loads(args.sweep.read_text(encoding="utf-8")), str(args.sweep))
        except OSError as exc:
            raise BadInput(f"sweep {args.sweep} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"sweep {args.sweep} is not TOML: {exc}") from None
        specs = specs or list(grid.histories)
    if not specs:
        raise BadInput(
            "no history: give --history scenario:NAME or csv:SYMBOL=FILE (or histories in the sweep)"
        )
    compares = [(text, _compare_settings(text)) for text in args.compare]
    for text, extra in compares:
        Book.parse(with_settings(raw, base + extra), f"--compare {text}")
    urls = endpoints.resolve(book, args.rpc).calls
    histories = _histories(args, specs, book, urls)
    if grid is not None:
        return _sweep(args, raw, base, grid, histories, sim, book)
    jobs = []
    for history, start, vault in histories:
        jobs.append(Job(raw, base, history, start, _policy_label(book), sim, str(args.config), vault))
        for text, extra in compares:
            jobs.append(Job(raw, base + extra, history, start, text, sim, str(args.config), vault))
    results = backtest_run.run_jobs(jobs, args.workers, args.scheduler)
    per_history = [results[i : i + 1 + len(compares)] for i in range(0, len(results), 1 + len(compares))]
    numeraire = book.numeraire
    texts, report = [], []
    for group in per_history:
        summaries = [summary(r) for r in group]
        texts.append(backtest_report.render(summaries, numeraire))
        report.append({"history": group[0].path, "policies": summaries})
    text = "\n\n".join(texts)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(text)
    if args.out is not None:
        _write(args.out, text, report, per_history)
    return 0


def _policy_label(book: Book) -> str:
    return f"policy ({book.strategy.kind})"


def _out_dir(out: Path) -> None:
    """Make --out a directory, or say in one line why it cannot be."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out {out}: {exc.strerror or exc}") from None


def _write(out: Path, text: str, report: list[dict[str, Any]], per_history: list[list[Result]]) -> None:
    from bot.report import backtest_charts

    _out_dir(out)
    (out / "report.txt").write_text(text + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    sections = []
    for i, group in enumerate(per_history, start=1):
        (out / f"steps-{i}.csv").write_text(backtest_report.steps_csv(group[0]))
        summaries = [summary(r) for r in group]
        charts = backtest_charts.backtest_charts(group)
        (out / f"value-{i}.png").write_bytes(charts["value"])
        sections.append((group[0].path, backtest_report.render(summaries, group[0].numeraire), charts))
    (out / "report.html").write_text(
        backtest_charts.html_page(f"Backtest of {per_history[0][0].book}", sections)
    )
    print(
        f"\nsaved: {out}/report.txt, report.json, report.html, steps-N.csv and value-N.png (N: the history)"
    )


def _sweep(
    args: argparse.Namespace,
    raw: dict[str, Any],
    base: tuple[str, ...],
    grid: sweeps.Sweep,
    histories: list[tuple[HistorySpec, Snapshot, VaultGuards]],
    sim: Settings,
    book: Book,
) -> int:
    jobs, points, skipped = [], [], []
    for point in grid.points:
        settings = base + sweeps.settings(point)
        try:
            Book.parse(with_settings(raw, settings), "point")
        except BadInput as exc:
            skipped.append(f"{sweeps.label(point)}: {exc}")
            continue
        for history, start, vault in histories:
            label = sweeps.label(point)
            jobs.append(Job(raw, settings, history, start, label, sim, str(args.config), vault))
            points.append(point)
    if not jobs:
        raise BadInput("no point of the sweep makes a valid book: " + "; ".join(skipped[:3]))
    results = backtest_run.run_jobs(jobs, args.workers, args.scheduler)
    rows = []
    for point, result in zip(points, results, strict=True):
        row = summary(result)
        row.pop("rebalance_list")
        row["point"] = dict(point)
        rows.append(row)
    if args.json:
        print(json.dumps({"points": rows, "skipped": skipped}, indent=2))
    else:
        print(backtest_report.ranking(rows, list(grid.keys)))
        for note in skipped:
            print(f"skipped {note}")
    if args.out is not None:
        _write_sweep(args.out, rows, skipped, grid, book)
    return 0


def _write_sweep(
    out: Path, rows: list[dict[str, Any]], skipped: list[str], grid: sweeps.Sweep, book: Book
) -> None:
    from bot.report import backtest_charts

    _out_dir(out)
    (out / "sweep.json").write_text(json.dumps({"points": rows, "skipped": skipped}, indent=2) + "\n")
    text = backtest_report.ranking(rows, list(grid.keys))
    (out / "ranking.txt").write_text(text + "\n")
    varied = [k for k in grid.keys if len({str(p.get(k)) for p in grid.points}) > 1]
    charts: dict[str, bytes] = {}
    if len(varied) >= 2:
        x, y = varied[0], varied[1]
        for history, cells in sweeps.heat(rows, x, y).items():
            charts[history] = backtest_charts.heatmap(cells, x, y, f"{history}: best excess over holding")
    for i, png in enumerate(charts.values(), start=1):
        (out / f"heatmap-{i}.png").write_bytes(png)
    (out / "report.html").write_text(
        backtest_charts.html_page(f"Sweep of {book.name}", [("ranking", text, charts)])
    )
    print(f"\nsaved: {out}/sweep.json, ranking.txt, report.html, {len(charts)} heatmap(s)")
