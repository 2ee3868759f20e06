"""A sweep gives the same results whoever runs it: here, on two local processes, on a Dask cluster."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.core import scenarios, sweep
from bot.core.book import Book
from bot.core.book_settings import with_settings
from bot.core.errors import BadInput
from bot.core.performance import summary
from bot.keeper.backtest_jobs import Job, ScenarioHistory
from bot.keeper.backtest_run import run_jobs
from tests.unit.test_backtest import SLEEVES, VALUES
from tests.unit.views import book_raw, make_snapshot

RAW = book_raw(SLEEVES, policy={"band": 0.05, "benefit_bps": 1000, "max_cost_bps": 500})
GRID = {
    "grid": {
        "policy.band": [0.01, 0.03],
        "strategy.kind": ["threshold", "calendar"],
        "strategy.every": ["6h"],
    }
}


def jobs() -> list[Job]:
    start = make_snapshot(Book.parse(RAW), VALUES, weth_price=3000)
    history = ScenarioHistory(replace(scenarios.SCENARIOS["bear"], days=0.5))
    grid = sweep.parse(GRID)
    return [Job(RAW, sweep.settings(point), history, start, sweep.label(point)) for point in grid.points]


def figures(results: list) -> str:
    return json.dumps([summary(r) for r in results], sort_keys=True)


def test_the_grid_skips_keys_a_strategy_does_not_take() -> None:
    grid = sweep.parse(GRID)
    assert [sweep.settings(p) for p in grid.points] == [
        ('strategy.kind="threshold"', "policy.band=0.01"),
        ('strategy.kind="calendar"', "policy.band=0.01", 'strategy.every="6h"'),
        ('strategy.kind="threshold"', "policy.band=0.03"),
        ('strategy.kind="calendar"', "policy.band=0.03", 'strategy.every="6h"'),
    ]
    book = Book.parse(with_settings(RAW, sweep.settings(grid.points[1])))
    assert book.strategy.kind == "calendar" and str(book.policy.band) == "0.01"
    for bad, says in [({}, "no \\[grid\\]"), ({"grid": {"policy.band": []}}, "non-empty list"),
                      ({"grid": {"a": [1]}, "colour": 1}, "unknown key"),
                      ({"grid": {"a": [1]}, "histories": [1]}, "list of strings")]:  # fmt: skip
        with pytest.raises(BadInput, match=says):
            sweep.parse(bad)


def test_a_sweep_is_the_same_serially_on_processes_and_on_dask() -> None:
    distributed = pytest.importorskip("distributed")
    work = jobs()
    serial = run_jobs(work)
    assert any(r.rebalances for r in serial)
    assert len({r.final["policy"] for r in serial}) > 1  # the points differ
    processes = run_jobs(work, workers=2)
    assert figures(processes) == figures(serial)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = run_jobs(work, scheduler=cluster.scheduler_address)
    assert figures(on_dask) == figures(serial)
