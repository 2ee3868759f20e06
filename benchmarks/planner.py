"""Time to value, decide and plan a 50-sleeve book over 100 pools, and one ten times larger (pure
code, no chain).

A synthetic book: 40 tokens (6, 8 and 18 decimals) in 100 V2 pools, each token paired with
USDC or WETH and the rest at random; 35 LP sleeves and 15 idle tokens whose prices drifted
since the targets were set, so every run plans a real rebalance (burns, routed swaps, mints).
The larger book: 400 tokens, 1,000 pools, 350 LP and 150 idle sleeves, built the same way.
Each run is `value_book` + strategy + `plan_rebalance` with the cost gate (`bot.core.decision.decide`).
`growth_10x` is the larger book's median over the smaller's (sweeps plan thousands of times).
Last line: one JSON object.

    .venv/bin/python benchmarks/planner.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_utils.address import to_checksum_address

import strategies
from bot.core.book import Book
from bot.core.decision import Rebalance, decide
from bot.core.snapshot import PairSnapshot, Snapshot, TokenInfo
from bot.core.valuation import value_book

ZERO = "0x" + "00" * 20
TOKENS = 40
POOLS = 100
LP_SLEEVES = 35
IDLE_SLEEVES = 15


def address(n: int) -> str:
    return to_checksum_address(f"0x{n:040x}")


def synthetic(seed: int = 7, scale: int = 1) -> tuple[Book, Snapshot]:
    """The book file and a snapshot of it: prices moved since the targets were set.

    Args:
        scale: tokens, pools and sleeves times this.
    """
    rng = random.Random(seed)
    tokens_n, pools_n = TOKENS * scale, POOLS * scale
    lp_n, idle_n = LP_SLEEVES * scale, IDLE_SLEEVES * scale
    symbols = ["USDC", "WETH", *[f"T{i}" for i in range(2, tokens_n)]]
    decimals = {"USDC": 6, "WETH": 18, **{s: rng.choice((6, 8, 18)) for s in symbols[2:]}}
    usd = {
        "USDC": Fraction(1),
        "WETH": Fraction(3000),
        **{s: Fraction(rng.randint(1, 50_000), 100) for s in symbols[2:]},
    }
    infos = {s: TokenInfo(address(0x1000 + i), s, decimals[s]) for i, s in enumerate(symbols)}
    names: list[tuple[str, str]] = [("WETH", "USDC")]
    for s in symbols[2:]:
        names.append((s, rng.choice(("USDC", "WETH"))))
    while len(names) < pools_n:
        a, b = rng.sample(symbols, 2)
        if (a, b) not in names and (b, a) not in names:
            names.append((a, b))
    pairs = []
    for i, (a, b) in enumerate(names):
        depth = rng.randint(1_000_000, 30_000_000)  # USD per side
        drift = Fraction(rng.randint(85, 115), 100)  # this pool's price moved since the targets
        t0, t1 = sorted((infos[a], infos[b]), key=lambda t: t.address.lower())
        r0 = int(Fraction(depth) / usd[t0.symbol] * 10**t0.decimals * drift)
        r1 = int(Fraction(depth) / usd[t1.symbol] * 10**t1.decimals)
        supply = math.isqrt(r0 * r1)
        pairs.append(
            PairSnapshot(
                address=address(0x9000 + i),
                factory=address(0xFAC),
                fee_to=ZERO,
                token0=t0,
                token1=t1,
                reserve0=r0,
                reserve1=r1,
                block_timestamp_last=1_700_000_000,
                total_supply=supply,
                k_last=0,
                price0_cumulative_last=0,
                price1_cumulative_last=0,
                holder_lp=supply // 200,  # the book holds 0.5% of every pool
            )
        )
    lp_pairs = [f"{a}/{b}" for a, b in names[:lp_n]]
    idle = symbols[:idle_n]
    weights = [rng.randint(1, 10) for _ in range(lp_n + idle_n)]
    total = sum(weights)
    # exact targets summing to 1: the last takes the rounding
    targets = [Fraction(w * 10_000 // total, 10_000) for w in weights]
    targets[-1] += 1 - sum(targets)
    sleeves: list[dict[str, Any]] = [
        {"pair": name, "target": str(float(t))} for name, t in zip(lp_pairs, targets, strict=False)
    ]
    sleeves += [{"token": s, "target": str(float(t))} for s, t in zip(idle, targets[lp_n:], strict=True)]
    raw = {
        "vault": address(0xBEEF),
        "numeraire": "USDC",
        "tokens": {s: infos[s].address for s in symbols},
        "pairs": {f"{a}/{b}": p.address for (a, b), p in zip(names, pairs, strict=True)},
        "policy": {"band_relative": 0.1, "deadband": 0.001, "max_cost_bps": 500},
        "sleeves": sleeves,
    }
    book = Book.parse(raw)
    balances = {
        infos[s].address: int(Fraction(rng.randint(5_000, 100_000)) / usd[s] * 10 ** decimals[s])
        for s in symbols
    }
    snapshot = Snapshot(
        block_number=1_000,
        block_timestamp=1_700_000_600,
        base_fee_wei=20 * 10**9,
        chain_id=1,
        holder=address(0xBEEF),
        holder_native_wei=10**18,
        pairs=tuple(pairs),
        tokens={t.address: t for t in infos.values()},
        balances=balances,
    )
    return book, snapshot


def measure(book: Book, snapshot: Snapshot, runs: int) -> tuple[list[float], Any]:
    """Milliseconds of value + decide + plan per run, and the last decision."""
    strategy = strategies.build(book)
    times = []
    decision = None
    for _ in range(runs):
        started = time.perf_counter()
        view = value_book(book, snapshot)
        decision = decide(view, strategy)
        times.append((time.perf_counter() - started) * 1000)
    return times, decision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--large-runs", type=int, default=5, help="runs of the ten times larger book")
    args = parser.parse_args()
    book, snapshot = synthetic()
    times, decision = measure(book, snapshot, args.runs)
    median = report(book, decision, times)
    large_book, large_snapshot = synthetic(scale=10)
    large_times, large_decision = measure(large_book, large_snapshot, args.large_runs)
    large_median = report(large_book, large_decision, large_times)
    growth = large_median / median
    print(f"growth for a book ten times larger: {growth:.1f}x")
    print(
        json.dumps(
            {
                "bench": "planner",
                "sleeves": len(book.sleeves),
                "pools": len(book.pairs),
                "median_ms": round(median, 1),
                "median_ms_10x": round(large_median, 1),
                "growth_10x": round(growth, 2),
            }
        )
    )


def report(book: Book, decision: Any, times: list[float]) -> float:
    """Print what was planned and how long it took; the median in ms."""
    assert decision is not None and decision.plan is not None
    plan = decision.plan
    kinds = [type(p.op).__name__ for p in plan.ops]
    print(f"book: {len(book.sleeves)} sleeves over {len(book.pairs)} pools, {len(book.tokens)} tokens")
    print(f"decision: {'rebalance' if isinstance(decision, Rebalance) else 'hold'}: {decision.reason[:160]}")
    print(
        f"plan: {len(plan.ops)} ops ({kinds.count('Burn')} burns, {kinds.count('Swap')} swaps, "
        f"{kinds.count('Mint')} mints), {plan.passes} passes, "
        f"largest dust {float(max(plan.dust.values(), default=0)):.1e}"
    )
    median = statistics.median(times)
    print(
        f"value + decide + plan: median {median:.1f} ms, min {min(times):.1f}, max {max(times):.1f} "
        f"over {len(times)} runs"
    )
    return median


if __name__ == "__main__":
    main()
