"""`ammkeeper backtest`, as functions: the start state from the chain, the histories, and the jobs
run here, on local worker processes or on a Dask cluster (orchestration)."""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.block_clock import block_at_or_before
from bot.chain.history import HistoryCache, read_headers, read_logs
from bot.chain.snapshot_reader import read_book
from bot.chain.vault import read_guards
from bot.core import chain_history, price_files, scenarios
from bot.core.backtest import Result
from bot.core.book import Book
from bot.core.errors import BadInput, RpcError, Transient
from bot.core.snapshot import Snapshot
from bot.core.valuation import Observation, observe
from bot.core.vault_guards import VaultGuards
from bot.keeper.backtest_jobs import ChainHistory, FileHistory, HistorySpec, Job, ScenarioHistory, run

GWEI = 10**9
DEFAULT_FILE_GAS_GWEI = 15
HISTORY_KINDS = ("scenario", "csv", "chain")


async def read_start(
    book: Book, urls: str | Sequence[str], block: int | str = "latest"
) -> tuple[Snapshot, VaultGuards]:
    """The book read at `block` (the pools, balances and LP every history starts from) and its
    vault's guards and observations there.

    Raises:
        BadInput: the node serves another chain, or a pair of the book cannot be read.
        RpcError: the node failed.
    """
    async with rpc.connect(urls, book=book) as w3:
        snapshot = await read_book(w3, book, block)
        return snapshot, await _guards(w3, book, snapshot.block_number)


async def _guards(w3: AsyncWeb3[Any], book: Book, block: int) -> VaultGuards:
    """The vault's guards at `block`; none where the book's holder is not a vault yet (an account
    whose LP a user backtests before deploying one)."""
    try:
        return await read_guards(w3, book.vault, list(book.pairs.values()), block)
    except RpcError:
        code = await rpc.result(w3, "eth_getCode", [book.vault, hex(block)])
        if code in ("0x", "0x0", "", None):
            return VaultGuards()
        raise


def histories(spec: str, book: Book) -> list[HistorySpec]:
    """`scenario:NAME[,key=value…]` (or `scenario:all`), `csv:SYMBOL=FILE[,…][,step=1h][,gas=GWEI]`
    (a `chain` history is read from the node: `chain_history`).

    Raises:
        BadInput: an unknown kind, scenario or parameter; a file that cannot be read or parsed.
    """
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in HISTORY_KINDS or not rest or kind == "chain":
        raise BadInput(
            f"--history {spec!r}: expected scenario:NAME (one of {', '.join(scenarios.SCENARIOS)}, all), "
            "csv:SYMBOL=FILE[,SYMBOL=FILE…][,step=1h][,gas=GWEI], or chain with --from-block"
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


async def read_chain_history(
    book: Book,
    urls: str | Sequence[str],
    first: int,
    last: int | None,
    cache_root: Path,
) -> tuple[ChainHistory, Snapshot, VaultGuards]:
    """The book's pairs as recorded in blocks first+1..last (default the head), and the book and
    its vault's guards at `first` (where the replay starts). The logs and headers are cached under
    `cache_root` and a run that stops goes on from there.

    Raises:
        BadInput: a range outside the chain, or a book the node cannot read at `first`.
        RpcError: the node failed (what was read is kept).
    """
    pairs = list(book.pairs.values())
    show = _progress("chain history")
    async with rpc.connect(urls, book=book) as w3:
        head = int(await rpc.result(w3, "eth_blockNumber", []), 16)
        last = head if last is None else last
        if not 0 <= first < last <= head:
            raise BadInput(f"--from-block {first} --to-block {last}: need from < to <= the head ({head})")
        start = await read_book(w3, book, first)
        # the TWAP window at the start, as the keeper reads it from its node before its journal has one
        window = await block_at_or_before(w3, start.block_timestamp - book.prices.twap_window_s, first)
        seed: tuple[tuple[int, Mapping[str, Observation]], ...] = ()
        if window is not None and window < first:
            past = await read_book(w3, book, window)
            seed = ((past.block_timestamp, observe(past)),)
        guards = await _guards(w3, book, first)
        cache = HistoryCache(cache_root, start.chain_id, pairs, first + 1)
        progress = None if show is None else (lambda what, done, total: show(done, total))
        logs = await read_logs(w3, pairs, first + 1, last, cache, progress)
        headers = await read_headers(w3, list(range(first, last + 1)), cache, progress)  # first: its own head
    if show is not None:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    events = chain_history.decode(logs, start, book.vault)
    numeraire = book.tokens[book.numeraire].address
    tokens_order, ticks = chain_history.ticks(start, headers, events, numeraire)
    gaps = sorted(b.timestamp - a.timestamp for a, b in itertools.pairwise(headers)) or [12]
    step_s = max(1, gaps[len(gaps) // 2])
    return ChainHistory(f"chain:{first}-{last}", tokens_order, tuple(ticks), step_s, seed), start, guards


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
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_ignore_interrupts
    )
    try:
        results = list(pool.map(run, jobs))
    except BaseException:
        # Ctrl-C (or a job's error): stop the workers now, not after the jobs they are running
        pool.shutdown(wait=False, cancel_futures=True)
        for child in context.active_children():
            child.terminate()
        raise
    pool.shutdown()
    return results


def _ignore_interrupts() -> None:
    """A worker leaves Ctrl-C to the parent, which stops it (one message, not one per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
