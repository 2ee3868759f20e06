"""What taxes cost the keeper's head: a decision with `[tax]` against one without, and replaying a
long ledger (pure code, no chain).

- decide: `benchmarks/planner.py`'s 50-sleeve book, one lot per asset it holds (bought at 80% of
  today's price, so every sale is at a gain), without and with `[tax]` (rates, no budget), then
  with a budget that holds the plan to part of the way (8 more plans).
- replay: 1,000 bundles of 8 swaps each among 10 tokens at drifting prices, on a ledger opened with
  a deposit of each: what a keeper of a `[tax]` book replays on its first head; on later heads it
  applies only what is new (its `LedgerCache`).

Last line: one JSON object.

    .venv/bin/python benchmarks/tax.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from planner import synthetic

import strategies
from bot.core.book import Book, Moment, Tax
from bot.core.decision import Rebalance, decide
from bot.core.tax_ledger import (
    AssetInfo,
    Bundle,
    Event,
    Gains,
    OpFlow,
    Quote,
    TaxRules,
    Transfer,
    quoted,
    view_quotes,
    view_rules,
)
from bot.core.tax_lots import Ledger
from bot.core.tax_plan import TaxContext
from bot.core.valuation import BookView, value_book
from bot.keeper.tax_books import LedgerCache

BUNDLES = 1_000
OPS = 8
TOKENS = 10


def opened(view: BookView) -> TaxContext:
    """One lot per held asset, costing 80% of its value now."""
    rules = view_rules(view)
    ledger = Ledger()
    held = {**view.snapshot.balances, **{p.address: p.holder_lp for p in view.snapshot.pairs}}
    at = Moment(1, view.now.timestamp - 30 * 86_400)
    prices = {a: q.price for a, q in view_quotes(view).items()}
    for asset, amount in held.items():
        if amount > 0 and asset in prices:
            cost = rules.value(asset, amount, prices[asset]) * Fraction(4, 5)
            ledger = ledger.acquire(asset, amount, cost, at, "bench", rules.label(asset))
    return TaxContext(rules, ledger, 2023, Gains(), {})


def timed(fn: object, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def decisions(runs: int) -> dict[str, float]:
    book, snapshot = synthetic()
    taxed_book = Book.parse({**book.model_dump(mode="json", exclude_none=True), "tax": {"short_rate": 0.01}})
    view = value_book(book, snapshot)
    taxed_view = value_book(taxed_book, snapshot)
    ctx = opened(taxed_view)
    plain_ms, plain = timed(lambda: decide(view, strategies.build(book)), runs)
    taxed_ms, taxed = timed(lambda: decide(taxed_view, strategies.build(taxed_book), tax=ctx), runs)
    assert isinstance(plain, Rebalance) and isinstance(taxed, Rebalance) and taxed.tax is not None
    whole = taxed.tax.gains.short
    budget_book = Book.parse(
        {
            **book.model_dump(mode="json", exclude_none=True),
            "tax": {"short_budget": f"{float(whole / 3):.2f}"},
        }
    )
    budget_view = value_book(budget_book, snapshot)
    budget_ctx = opened(budget_view)
    budget_ms, held_back = timed(
        lambda: decide(budget_view, strategies.build(budget_book), tax=budget_ctx), runs
    )
    assert isinstance(held_back, Rebalance) and held_back.tax is not None and held_back.tax.share < 1
    print(
        f"decide, 50 sleeves: {plain_ms:.1f} ms; with [tax]: {taxed_ms:.1f} ms "
        f"({len(taxed.tax.disposals)} lot sales);"
    )
    print(
        f"  under a budget of a third of its gains: {budget_ms:.1f} ms, "
        f"{float(held_back.tax.share):.1%} of the way"
    )
    return {"decide_ms": plain_ms, "decide_taxed_ms": taxed_ms, "decide_budget_ms": budget_ms}


def history(seed: int = 3) -> tuple[TaxRules, list[Event]]:
    rng = random.Random(seed)
    tokens = [f"0x{i:040x}" for i in range(1, TOKENS + 1)]
    rules = TaxRules(Tax(method="hifo"), {t: AssetInfo(f"T{i}", 18) for i, t in enumerate(tokens)})
    prices = {t: Fraction(rng.randint(100, 10_000)) for t in tokens}
    held = {t: 10**24 for t in tokens}
    events: list[Event] = [
        Transfer("deposit", t, held[t], Moment(1, 1_700_000_000), f"0xd{i}", i, Quote(prices[t], "bench"))
        for i, t in enumerate(tokens)
    ]
    for n in range(BUNDLES):
        for t in tokens:  # rounded as the journal records prices
            prices[t] = quoted(prices[t] * rng.randint(97, 103) / 100)
        ops = []
        for _ in range(OPS):
            a, b = rng.sample(tokens, 2)
            amount = held[a] // rng.randint(50, 200)
            got = int(amount * prices[a] / prices[b] * Fraction(997, 1000))
            held[a] -= amount
            held[b] += got
            ops.append(OpFlow("swap", {a: amount}, {b: got}))
        at = Moment(10 + n, 1_700_000_000 + n * 3_600)
        quotes = {t: Quote(p, "bench") for t, p in prices.items()}
        events.append(Bundle(n, f"0xb{n}", at.block + 1, at, tuple(ops), quotes))
    return rules, events


def replay(runs: int) -> dict[str, float]:
    rules, events = history()
    ms, done = timed(lambda: rules.replay(events), max(1, runs // 5))
    lots = sum(1 for _ in done.ledger.open_lots())  # type: ignore[attr-defined]
    # a keeper keeps its replay between heads: a head with one new bundle applies that one only
    cache = LedgerCache()
    cache.replay(rules, events[:-1])
    start = time.perf_counter()
    extended = cache.replay(rules, events)
    head_ms = (time.perf_counter() - start) * 1000
    assert extended.ledger == done.ledger  # type: ignore[attr-defined]
    print(
        f"replay: {BUNDLES:,} bundles of {OPS} swaps in {ms:.0f} ms ({ms / BUNDLES:.2f} ms a bundle), "
        f"{lots:,} open lots"
    )
    print(f"  a head with one new bundle, the rest kept from the last head: {head_ms:.1f} ms")
    return {"replay_1000_bundles_ms": ms, "head_with_a_new_bundle_ms": head_ms, "open_lots": lots}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    figures = {**decisions(args.runs), **replay(args.runs)}
    figures["tax_overhead"] = figures["decide_taxed_ms"] / figures["decide_ms"]
    print(json.dumps({"bench": "tax", **{k: round(v, 2) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
