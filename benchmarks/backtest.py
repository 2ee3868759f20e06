"""How fast the backtest runs the keeper's own decision: a year of one-minute steps on one core, and
a sweep on two worker processes against the same sweep run serially.

The world's book (read once from the local world at its head) on the `calm` regime for a year of
60 s steps: 525,601 steps, each a block where the arbitrageur trades the seven pools to the path
and the keeper's schedule ("every block") evaluates the book with `value_book`, the threshold
strategy, the planner, the cost gate and the guards (a hold on a block where no amount and no
reserve changed is the hold before: `bot.core.strategy.book_only`). Then four 30-day `bear` runs
of four band settings, serially and on 2 workers (`--workers 2`): the speedup is measured in this
one run. Last line: one JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anvil.world import ensure_world, start_world
from bot.core import scenarios
from bot.core.book import Book
from bot.keeper.backtest_jobs import Job, ScenarioHistory
from bot.keeper.backtest_run import read_start, run_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=365, help="length of the one-core run (default a year)")
    parser.add_argument("--sweep-days", type=float, default=30, help="length of each sweep run")
    args = parser.parse_args()
    files = ensure_world()
    node, _ = start_world(files=files)
    try:
        book = Book.load(files.config)
        start, _ = asyncio.run(read_start(book, [node.url]))  # the world's vault: no guards
    finally:
        node.stop()
    raw = Book.read_raw(files.config)

    calm = ScenarioHistory(replace(scenarios.SCENARIOS["calm"], days=args.days))
    job = Job(raw, (), calm, start, "threshold")
    started = time.perf_counter()
    (result,) = run_jobs([job])
    elapsed = time.perf_counter() - started
    per_s = result.steps / elapsed
    print(f"book: {len(book.sleeves)} sleeves over {len(book.pairs)} pools; history {calm.name}")
    print(
        f"one core: {result.steps:,} steps ({result.evaluations:,} evaluations, "
        f"holds {dict(result.holds)}, refusals {dict(result.refusals)}, {len(result.rebalances)} rebalances) "
        f"in {elapsed:.1f} s: "
        f"{per_s:,.0f} steps/s"
    )

    bear = ScenarioHistory(replace(scenarios.SCENARIOS["bear"], days=args.sweep_days))
    bands = ("0.01", "0.015", "0.02", "0.03")
    jobs = [Job(raw, (f"policy.band={band}",), bear, start, f"band {band}") for band in bands]
    started = time.perf_counter()
    serial = run_jobs(jobs)
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    parallel = run_jobs(jobs, workers=2)
    parallel_s = time.perf_counter() - started
    same = [r.final for r in serial] == [r.final for r in parallel]
    speedup = serial_s / parallel_s
    print(
        f"sweep of {len(jobs)} x {bear.name}: serial {serial_s:.1f} s, 2 workers {parallel_s:.1f} s: "
        f"speedup {speedup:.2f}; results identical: {same}"
    )
    for r in serial:
        print(f"  {r.strategy}: {len(r.rebalances)} rebalances, policy {r.final['policy']:,.2f}")
    print(
        json.dumps(
            {
                "bench": "backtest",
                "steps": result.steps,
                "steps_per_s": round(per_s),
                "sweep_speedup_2_workers": round(speedup, 2),
                "sweep_identical": same,
            }
        )
    )


if __name__ == "__main__":
    main()
