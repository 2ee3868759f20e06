"""`ammkeeper backtest`, as functions: the start state from the chain, the histories, and the jobs
run here, on local worker processes or on a Dask cluster (orchestration)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.chain import rpc
from bot.chain.snapshot_reader import SnapshotReader
from bot.core import price_files, scenarios
from bot.core.backtest import Result
from bot.core.book import Book
from bot.core.errors import BadInput, Transient
from bot.core.snapshot import Snapshot
from bot.keeper.backtest_jobs import FileHistory, HistorySpec, Job, ScenarioHistory, run

GWEI = 10**9
DEFAULT_FILE_GAS_GWEI = 15
HISTORY_KINDS = ("scenario", "csv")


async def read_start(book: Book, urls: str | Sequence[str], block: int | str = "latest") -> Snapshot:
    """The book read at `block`: the pools, balances and LP every history starts from.

    Raises:
        BadInput: the node serves another chain, or a pair of the book cannot be read.
        RpcError: the node failed.
    """
    async with rpc.connect(urls, book=book) as w3:
        snapshot = await SnapshotReader(w3).read(
            list(book.pairs.values()), book.vault, [t.address for t in book.tokens.values()], block
        )
    if book.chain_id is not None and snapshot.chain_id != book.chain_id:
        raise BadInput(f"the RPC serves chain {snapshot.chain_id}; the book is for chain {book.chain_id}")
    if snapshot.errors:
        raise snapshot.errors[0]
    return snapshot


def histories(spec: str, book: Book) -> list[HistorySpec]:
    """`scenario:NAME[,key=value…]` (or `scenario:all`), `csv:SYMBOL=FILE[,…][,step=1h][,gas=GWEI]`.

    Raises:
        BadInput: an unknown kind, scenario or parameter; a file that cannot be read or parsed.
    """
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in HISTORY_KINDS or not rest:
        raise BadInput(
            f"--history {spec!r}: expected scenario:NAME (one of {', '.join(scenarios.SCENARIOS)}, all) "
            "or csv:SYMBOL=FILE[,SYMBOL=FILE…][,step=1h][,gas=GWEI]"
        )
    if kind == "scenario":
        try:
            return [ScenarioHistory(s) for s in scenarios.parse(rest)]
        except ValueError as exc:
            raise BadInput(f"--history {spec!r}: {exc}") from None
    return [file_history(rest, book)]


def file_history(text: str, book: Book) -> FileHistory:
    """`SYMBOL=FILE[,…][,step=1h][,gas=GWEI]`: each token's prices from its file."""
    files: dict[str, Path] = {}
    step: int | None = None
    gas = float(DEFAULT_FILE_GAS_GWEI)
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not value:
            raise BadInput(f"csv history {part!r}: expected SYMBOL=FILE, step=DURATION or gas=GWEI")
        if key == "step":
            try:
                step = scenarios.duration(value)
            except ValueError:
                step = 0
            if step <= 0:
                raise BadInput(f"csv history step={value!r}: expected a duration like 60, 5m, 1h")
        elif key == "gas":
            try:
                gas = float(value)
            except ValueError:
                gas = -1.0
            if not 0 <= gas < 100_000:
                raise BadInput(f"csv history gas={value!r}: expected a base fee in gwei")
        elif key in book.tokens:
            files[key] = Path(value)
        else:
            raise BadInput(f"csv history: {key!r} is not a token of the book ({', '.join(book.tokens)})")
    if not files:
        raise BadInput("csv history names no file: csv:SYMBOL=FILE[,SYMBOL=FILE…]")
    rows = {}
    for symbol, path in files.items():
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                rows[symbol] = price_files.read_prices(handle, str(path))
        except OSError as exc:
            raise BadInput(f"price file {path} cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise BadInput(f"price file {path} is not UTF-8 text") from None
    step = step or min(price_files.spacing(r) for r in rows.values())
    name = "csv:" + ",".join(f"{s}={p.name}" for s, p in files.items()) + f",step={step}"
    return FileHistory(name, rows, step, int(gas * GWEI))


def _progress(name: str) -> Callable[[int, int | None], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(step: int, steps: int | None) -> None:
        done = f"{step / steps:.0%}" if steps else f"{step:,} steps"
        print(f"\r{name}: {done}   ", end="", file=sys.stderr, flush=True)

    return show


def run_jobs(jobs: Sequence[Job], workers: int = 1, scheduler: str | None = None) -> list[Result]:
    """Every job's result, in the jobs' order: here one after another, on `workers` local
    processes, or on the Dask cluster at `scheduler`. The same jobs give the same results."""
    if scheduler is not None:
        return _on_dask(jobs, scheduler)
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            show = _progress(f"{job.label} on {job.history.name}")
            out.append(run(job, show))
            if show is not None:
                print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
        return out
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(run, jobs))


def _on_dask(jobs: Sequence[Job], scheduler: str) -> list[Result]:
    try:
        from distributed import Client
    except ImportError:
        raise BadInput("--scheduler needs Dask distributed: pip install 'ammkeeper[backtest]'") from None
    try:
        client: Any = Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise Transient(f"no Dask scheduler answers at {scheduler}: {exc}") from None
    try:
        futures = client.map(run, list(jobs), pure=False)
        return list(client.gather(futures))
    finally:
        client.close()
