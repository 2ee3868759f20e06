"""Backtest jobs: one policy on one history, as plain data any process can run.

A job carries everything it needs (the book's TOML and its settings, the history as parameters or
parsed rows, the start snapshot), so the same job gives the same result in this process, in a
local worker process or on a Dask worker on another machine. Running one does no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import strategies
from bot.core import price_files, scenarios
from bot.core.backtest import Backtest, PricePath, Result, Settings, Tick
from bot.core.book import Book
from bot.core.book_settings import with_settings
from bot.core.snapshot import Snapshot
from bot.core.valuation import Observation, value_book
from bot.core.vault_guards import VaultGuards


@dataclass(frozen=True, slots=True)
class ScenarioHistory:
    """A named, seeded regime (`bot.core.scenarios`)."""

    scenario: scenarios.Scenario

    @property
    def name(self) -> str:
        return self.scenario.label()


@dataclass(frozen=True, slots=True)
class FileHistory:
    """Price rows per token symbol from files, on a grid of `step_s`, at a constant base fee."""

    name: str
    rows: Mapping[str, Sequence[tuple[int, float]]]
    step_s: int
    base_fee_wei: int


@dataclass(frozen=True, slots=True)
class ChainHistory:
    """Blocks recorded from a chain (`bot.chain.history`, `bot.core.chain_history`): per block its
    time, base fee and the pairs' events; the book's state at the block before them is the job's
    start, and `observations` its TWAP window there."""

    name: str
    tokens: tuple[str, ...]
    blocks: tuple[Tick, ...]
    step_s: int
    observations: tuple[tuple[int, Mapping[str, Observation]], ...] = ()


HistorySpec = ScenarioHistory | FileHistory | ChainHistory


@dataclass(frozen=True, slots=True)
class Job:
    """One backtest to run.

    Attributes:
        raw: the book file's TOML; settings: `--set` changes applied to it (a sweep's point too).
        label: the policy's name in reports.
        start: the book at the history's first block; vault: the vault's guards and observations there.
    """

    raw: Mapping[str, Any]
    settings: tuple[str, ...]
    history: HistorySpec
    start: Snapshot
    label: str = "policy"
    sim: Settings = field(default_factory=Settings)
    source: str = "book"
    vault: VaultGuards = field(default_factory=VaultGuards)

    def book(self) -> Book:
        return Book.parse(with_settings(self.raw, self.settings), self.source)


def start_prices(book: Book, start: Snapshot) -> tuple[tuple[str, ...], list[float], int]:
    """The book's tokens (addresses), their prices in the numeraire at the start, and the
    numeraire's index: where every history's prices start from."""
    view = value_book(book, start)
    tokens = tuple(t.address for t in view.tokens.values())
    missing = [s for s, t in view.tokens.items() if t.address not in view.prices]
    if missing:
        raise ValueError(f"no price for {', '.join(missing)} through the book's pairs at the start block")
    prices = [float(view.prices[a].value) for a in tokens]
    return tokens, prices, tokens.index(view.tokens[book.numeraire].address)


def price_path(book: Book, start: Snapshot, history: HistorySpec) -> PricePath:
    """The history as ticks over the book's tokens, starting from the book's own prices."""
    tokens, prices, numeraire = start_prices(book, start)
    match history:
        case ScenarioHistory(scenario):
            pegs = scenarios.pegged(prices, numeraire)
            ticks = scenarios.ticks(scenario, prices, pegs, start.block_timestamp, numeraire)
            return PricePath(history.name, tokens, ticks, scenario.step_s, scenario.steps)
        case ChainHistory():
            return PricePath(
                history.name, history.tokens, history.blocks, history.step_s, len(history.blocks),
                history.observations,
            )  # fmt: skip
        case FileHistory():
            by_index = {tokens.index(book.tokens[s].address): rows for s, rows in history.rows.items()}
            generated, _, steps = price_files.ticks(by_index, prices, history.step_s, history.base_fee_wei)
            return PricePath(history.name, tokens, generated, history.step_s, steps)
    raise AssertionError(f"unknown history {history!r}")


def run(job: Job, observer: Callable[[int, int | None], None] | None = None) -> Result:
    """Run one job to its end."""
    book = job.book()
    path = price_path(book, job.start, job.history)
    return Backtest(
        book, job.start, path, strategies.build(book), job.sim, job.label, observer, job.vault
    ).run()
