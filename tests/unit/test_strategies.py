"""Strategies (strategies/): each one's decision and the reason users read, on views built without a chain.

Books hold 300,000 USDC in the world of `tests/unit/views.py` (WETH at 3,000 unless a test moves
it), so a sleeve's weight in percent times 3,000 is its value, and every weight is exact.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import strategies
from bot.core.book import Book, Moment, Schedule
from bot.core.valuation import BookView, History, value_book
from strategies import Hold, Targets
from strategies.calendar import CalendarStrategy
from strategies.hybrid import HybridStrategy
from strategies.il_guard import IlGuardStrategy
from strategies.partial import PartialStrategy
from strategies.threshold import ThresholdStrategy
from strategies.volatility import VolatilityStrategy
from tests.unit.views import DAY_S, TOKENS, make_book, make_view, price_path

TOTAL = 300_000
WETH = TOKENS["WETH"].address
DAI = TOKENS["DAI"].address
USDC = TOKENS["USDC"].address

STANDARD_SLEEVES = [
    {"pair": "WETH/USDC", "target": 0.4},
    {"token": "WETH", "target": 0.2},
    {"token": "USDC", "target": 0.2, "bucket": "stables"},
    {"token": "DAI", "target": 0.2, "bucket": "stables"},
]
STABLES = {"stables": {"band": 0.05}}
BOOK_TARGETS = {
    "WETH/USDC": Fraction(2, 5),
    "WETH": Fraction(1, 5),
    "USDC": Fraction(1, 5),
    "DAI": Fraction(1, 5),
}


def standard(strategy: Any = None) -> Book:
    """LP WETH/USDC 40%, WETH 20%, and a stables bucket of USDC 20% and DAI 20%; 5 pp bands."""
    return make_book(STANDARD_SLEEVES, strategy=strategy, buckets=STABLES)


def held(book: Book, *percents: float) -> dict[str, Fraction]:
    """Values by sleeve label (in the book's order) for these weights in percent of TOTAL."""
    assert sum(percents) == 100
    return {s.label: Fraction(pct) * TOTAL / 100 for s, pct in zip(book.sleeves, percents, strict=True)}


def view_of(book: Book, *percents: float, **options: Any) -> BookView:
    view = make_view(book, held(book, *percents), **options)
    assert view.total == TOTAL
    return view


def targets(decision: strategies.Decision) -> Mapping[str, Fraction]:
    """The weights of a Targets decision, checked to sum to exactly 1 as Fractions."""
    assert isinstance(decision, Targets), decision
    assert all(isinstance(w, Fraction) for w in decision.weights.values())
    assert sum(decision.weights.values()) == 1
    return decision.weights


# --- the builder itself ------------------------------------------------------------------------


def test_the_builder_gives_exact_weights_drifts_and_bands() -> None:
    view = view_of(standard(), 46, 16, 27, 11)
    assert [s.weight for s in view.sleeves] == [
        Fraction(46, 100),
        Fraction(16, 100),
        Fraction(27, 100),
        Fraction(11, 100),
    ]
    assert view.sleeve("WETH/USDC").drift == Fraction(6, 100)
    assert view.sleeve("WETH/USDC").amounts == {USDC: 69_000 * 10**6, WETH: 23 * 10**18}
    assert view.price("WETH") == 3000
    (bucket,) = view.buckets
    assert (bucket.name, bucket.members, bucket.weight, bucket.target) == (
        "stables",
        ("USDC", "DAI"),
        Fraction(38, 100),
        Fraction(2, 5),
    )
    assert all(s.band == Fraction(5, 100) for s in view.sleeves)


# --- threshold ---------------------------------------------------------------------------------


def test_threshold_holds_inside_the_bands_and_names_the_largest_drift() -> None:
    decision = ThresholdStrategy().decide(view_of(standard(), 42, 19, 20, 19))
    assert decision == Hold("inside bands; largest drift WETH/USDC +2.00 pp")


def test_threshold_holds_at_the_edge_of_a_band() -> None:
    # exactly 5 pp off a 5 pp band is still inside: only a drift past the band trips
    decision = ThresholdStrategy().decide(view_of(standard(), 45, 15, 20, 20))
    assert decision == Hold("inside bands; largest drift WETH/USDC +5.00 pp")


def test_a_sleeve_outside_its_absolute_band_rebalances_to_the_book_targets() -> None:
    decision = ThresholdStrategy().decide(view_of(standard(), 46, 16, 19, 19))
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == "outside band: WETH/USDC +6.00 pp (band 5.00 pp)"


def test_every_sleeve_outside_its_band_is_named_with_its_signed_drift() -> None:
    decision = ThresholdStrategy().decide(view_of(standard(), 46, 14, 20, 20))
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == (
        "outside band: WETH/USDC +6.00 pp (band 5.00 pp); WETH -6.00 pp (band 5.00 pp)"
    )


def test_relative_bands_scale_with_the_target() -> None:
    book = make_book(
        [
            {"pair": "WETH/USDC", "target": 0.5, "band_relative": 0.2},
            {"token": "WETH", "target": 0.1, "band_relative": 0.2},
            {"token": "USDC", "target": 0.4, "band_relative": 0.2},
        ]
    )
    view = view_of(book, 58, 10, 32)
    assert [s.band for s in view.sleeves] == [Fraction(1, 10), Fraction(2, 100), Fraction(8, 100)]
    # 8 pp off a 50% target is inside its 10 pp band (an absolute 5 pp band would have tripped)
    assert ThresholdStrategy().decide(view) == Hold("inside bands; largest drift WETH/USDC +8.00 pp")
    # 3 pp off a 10% target is outside its 2 pp band, though USDC's 3 pp is inside its 8 pp
    decision = ThresholdStrategy().decide(view_of(book, 50, 13, 37))
    assert targets(decision) == {"WETH/USDC": Fraction(1, 2), "WETH": Fraction(1, 10), "USDC": Fraction(2, 5)}
    assert decision.reason == "outside band: WETH +3.00 pp (band 2.00 pp)"


def test_a_relative_policy_band_is_the_default_of_sleeves_that_give_none() -> None:
    book = make_book(
        [
            {"pair": "WETH/USDC", "target": 0.5},
            {"token": "WETH", "target": 0.1, "band": 0.01},
            {"token": "USDC", "target": 0.4},
        ],
        policy={"band_relative": 0.25},
    )
    view = view_of(book, 50, 10, 40)
    assert [s.band for s in view.sleeves] == [Fraction(1, 8), Fraction(1, 100), Fraction(1, 10)]
    # the LP's +12 pp is inside its 12.5 pp band; USDC's -12 pp is past its 10 pp
    decision = ThresholdStrategy().decide(view_of(book, 62, 10, 28))
    assert targets(decision) == {"WETH/USDC": Fraction(1, 2), "WETH": Fraction(1, 10), "USDC": Fraction(2, 5)}
    assert decision.reason == "outside band: USDC -12.00 pp (band 10.00 pp)"


def test_a_bucket_member_far_from_its_own_target_holds_while_the_bucket_is_inside() -> None:
    view = view_of(standard(), 40, 20, 30, 10)
    assert view.sleeve("USDC").outside_band and view.sleeve("DAI").outside_band
    assert view.buckets[0].drift == 0
    assert ThresholdStrategy().decide(view) == Hold("inside bands; largest drift USDC +10.00 pp")


def test_a_bucket_outside_its_band_goes_to_its_target_in_its_members_current_mix() -> None:
    decision = ThresholdStrategy().decide(view_of(standard(), 44, 22, 27, 7))
    weights = targets(decision)
    assert decision.reason == "outside band: bucket stables -6.00 pp (band 5.00 pp)"
    assert weights == {
        "WETH/USDC": Fraction(2, 5),
        "WETH": Fraction(1, 5),
        "USDC": Fraction(2, 5) * 27 / 34,
        "DAI": Fraction(2, 5) * 7 / 34,
    }
    # the bucket as a whole is at its target and its members keep their 27:7 mix: no trade between them
    assert weights["USDC"] + weights["DAI"] == Fraction(2, 5)
    assert weights["USDC"] / weights["DAI"] == Fraction(27, 7)


def test_a_sleeve_and_a_bucket_both_outside_are_both_named() -> None:
    decision = ThresholdStrategy().decide(view_of(standard(), 50, 20, 25, 5))
    assert decision.reason == (
        "outside band: WETH/USDC +10.00 pp (band 5.00 pp); bucket stables -10.00 pp (band 5.00 pp)"
    )
    assert targets(decision)["USDC"] == Fraction(2, 5) * 25 / 30


# --- calendar ----------------------------------------------------------------------------------


def at_block(block: int) -> Moment:
    return Moment(block, 1_700_000_000 + 12 * block)


def test_calendar_in_blocks_holds_when_it_rebalanced_this_period_naming_the_next_start() -> None:
    book = standard({"kind": "calendar", "every": "10 blocks"})
    strategy = strategies.build(book)
    view = view_of(book, 43, 18, 19.5, 19.5, block=125, history=History(last_rebalance=at_block(121)))
    assert strategy.decide(view) == Hold(
        "calendar (every 10 blocks): rebalanced this period; next at block 130"
    )


@pytest.mark.parametrize(
    ("now", "last"),
    [(125, 119), (130, 129), (125, None)],
    ids=["earlier period", "first block of the next period", "never rebalanced"],
)
def test_calendar_in_blocks_rebalances_once_a_new_period_started(now: int, last: int | None) -> None:
    book = standard({"kind": "calendar", "every": "10 blocks"})
    history = History(last_rebalance=None if last is None else at_block(last))
    decision = strategies.build(book).decide(view_of(book, 43, 18, 19.5, 19.5, block=now, history=history))
    # whatever the drift, even inside the bands
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == "calendar (every 10 blocks): due; largest drift WETH/USDC +3.00 pp"


def test_calendar_looks_at_the_last_rebalance_not_the_last_evaluation() -> None:
    book = standard({"kind": "calendar", "every": "10 blocks"})
    history = History(last_rebalance=at_block(100), last_evaluation=at_block(124))
    assert isinstance(
        strategies.build(book).decide(view_of(book, 43, 18, 19.5, 19.5, block=125, history=history)), Targets
    )


def test_calendar_in_time_uses_utc_days_whatever_the_blocks() -> None:
    book = standard({"kind": "calendar", "every": "1d"})
    strategy = strategies.build(book)
    now = 100 * DAY_S + 3600  # 01:00 on day 100
    this_day = History(last_rebalance=Moment(900, 100 * DAY_S + 10))
    view = view_of(book, 43, 18, 19.5, 19.5, block=1_000, timestamp=now, history=this_day)
    assert strategy.decide(view) == Hold(
        "calendar (every 1d): rebalanced this period; next at 1970-04-12 00:00:00 UTC"  # day 101
    )
    yesterday = History(last_rebalance=Moment(999, 100 * DAY_S - 1))  # one second and one block before
    decision = strategy.decide(
        view_of(book, 43, 18, 19.5, 19.5, block=1_000, timestamp=now, history=yesterday)
    )
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == "calendar (every 1d): due; largest drift WETH/USDC +3.00 pp"


# --- hybrid ------------------------------------------------------------------------------------


def test_hybrid_holds_when_it_evaluated_this_period_even_far_outside_the_bands() -> None:
    book = standard({"kind": "hybrid", "every": "10 blocks"})
    view = view_of(book, 60, 10, 15, 15, block=125, history=History(last_evaluation=at_block(121)))
    assert isinstance(ThresholdStrategy().decide(view), Targets)
    assert strategies.build(book).decide(view) == Hold(
        "hybrid (every 10 blocks): evaluated this period; next at block 130"
    )


@pytest.mark.parametrize(
    "history",
    [
        History(last_evaluation=at_block(119)),
        History(),
        History(last_rebalance=at_block(121), last_evaluation=at_block(110)),
    ],
    ids=["evaluated last period", "never evaluated", "rebalanced this period but not evaluated"],
)
def test_hybrid_rebalances_when_due_and_outside_the_bands(history: History) -> None:
    book = standard({"kind": "hybrid", "every": "10 blocks"})
    decision = strategies.build(book).decide(view_of(book, 60, 10, 15, 15, block=125, history=history))
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == (
        "hybrid (every 10 blocks): outside band: WETH/USDC +20.00 pp (band 5.00 pp); "
        "WETH -10.00 pp (band 5.00 pp); bucket stables -10.00 pp (band 5.00 pp)"
    )


def test_hybrid_holds_when_due_but_inside_the_bands() -> None:
    book = standard({"kind": "hybrid", "every": "6h"})
    history = History(last_evaluation=Moment(1, 0))
    decision = strategies.build(book).decide(
        view_of(book, 43, 18, 19.5, 19.5, timestamp=6 * 3600, history=history)
    )
    assert decision == Hold("hybrid (every 6h): evaluated, inside bands; largest drift WETH/USDC +3.00 pp")


# --- volatility --------------------------------------------------------------------------------


def with_volatility(view: BookView, **per_day: float) -> BookView:
    """The view with these realized volatilities per day, by token symbol (others 0)."""
    return dataclasses.replace(view, volatility={TOKENS[s].address: v for s, v in per_day.items()})


def test_volatility_widens_the_band_of_the_volatile_tokens_sleeves() -> None:
    book = standard({"kind": "volatility", "reference_vol": 0.25, "max_widen": 3})
    strategy = strategies.build(book)
    assert isinstance(strategy, VolatilityStrategy)
    view = with_volatility(view_of(book, 48, 16, 18, 18), WETH=0.5)
    # both the LP (half WETH) and the WETH sleeve are twice as wide; the stables are not widened
    assert [strategy.widen(view, s) for s in view.sleeves] == [2, 2, 1, 1]
    assert isinstance(ThresholdStrategy().decide(view), Targets)  # +8 pp trips a plain 5 pp band
    assert strategy.decide(view) == Hold(
        "inside volatility-widened bands (bands x2.00 at most); largest drift WETH/USDC +8.00 pp"
    )
    decision = strategy.decide(with_volatility(view_of(book, 51, 13, 18, 18), WETH=0.5))
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == (
        "outside volatility-widened band (bands x2.00 at most): WETH/USDC +11.00 pp (band 10.00 pp)"
    )


def test_volatility_widening_is_capped_at_max_widen() -> None:
    book = standard({"kind": "volatility", "reference_vol": 0.25, "max_widen": 3})
    strategy = strategies.build(book)
    assert isinstance(strategy, VolatilityStrategy)
    view = with_volatility(view_of(book, 54, 10, 18, 18), WETH=2.0)  # 8x the reference: capped at 3x
    assert strategy.widen(view, view.sleeve("WETH")) == 3
    assert strategy.decide(view) == Hold(
        "inside volatility-widened bands (bands x3.00 at most); largest drift WETH/USDC +14.00 pp"
    )
    decision = strategy.decide(with_volatility(view_of(book, 57, 6, 18.5, 18.5), WETH=2.0))
    assert targets(decision) == BOOK_TARGETS
    # WETH's -14 pp is inside its 15 pp band: only the LP is named
    assert decision.reason == (
        "outside volatility-widened band (bands x3.00 at most): WETH/USDC +17.00 pp (band 15.00 pp)"
    )


def test_a_bucket_band_widens_by_its_most_volatile_member() -> None:
    book = standard({"kind": "volatility", "reference_vol": 0.25, "max_widen": 3})
    view = view_of(book, 47, 21, 16, 16)
    assert ThresholdStrategy().decide(view).reason == (
        "outside band: WETH/USDC +7.00 pp (band 5.00 pp); bucket stables -8.00 pp (band 5.00 pp)"
    )
    decision = strategies.build(book).decide(with_volatility(view, WETH=0.5, DAI=0.5))
    assert decision == Hold(
        "inside volatility-widened bands (bands x2.00 at most); largest drift WETH/USDC +7.00 pp"
    )


def volatile_view(book: Book, percents: tuple[float, ...], prices: list[int]) -> BookView:
    """`book` valued at the last of daily WETH prices, the earlier ones its past snapshots."""
    *past, now = price_path(book, held(book, *percents), [(i * DAY_S, p) for i, p in enumerate(prices)])
    view = value_book(book, now, past=past)
    assert view.total == TOTAL
    return view


def test_volatility_measured_from_past_snapshots_widens_the_bands() -> None:
    prices = [3000, 3300, 3000, 3000]  # +10% one day, back the next: ln(1.1) per day
    view = volatile_view(standard({"kind": "volatility", "reference_vol": 0.06}), (48, 16, 18, 18), prices)
    assert view.volatility[WETH] == pytest.approx(math.log(1.1), rel=1e-9)
    assert view.volatility[USDC] == 0 and view.volatility[DAI] == 0
    assert isinstance(ThresholdStrategy().decide(view), Targets)

    # the default reference of 3% a day would widen 3.2x: capped at 3
    capped = VolatilityStrategy(Fraction(3, 100), Fraction(3))
    assert capped.decide(view) == Hold(
        "inside volatility-widened bands (bands x3.00 at most); largest drift WETH/USDC +8.00 pp"
    )
    # at a 6% reference it widens ln(1.1)/0.06 = 1.59x: 5 pp becomes 7.94 pp
    strategy = strategies.build(view.book)
    decision = strategy.decide(view)
    assert targets(decision) == BOOK_TARGETS
    assert decision.reason == (
        "outside volatility-widened band (bands x1.59 at most): WETH/USDC +8.00 pp (band 7.94 pp)"
    )
    quieter = volatile_view(view.book, (47, 17, 18, 18), prices)
    assert strategy.decide(quieter) == Hold(
        "inside volatility-widened bands (bands x1.59 at most); largest drift WETH/USDC +7.00 pp"
    )


@pytest.mark.parametrize(
    "prices", [[3000] * 4, [3000, 3030, 3000, 3000]], ids=["flat", "below the reference"]
)
def test_volatility_below_the_reference_decides_as_threshold(prices: list[int]) -> None:
    book = standard({"kind": "volatility"})  # reference 3% a day
    strategy = strategies.build(book)
    outside = volatile_view(book, (48, 16, 18, 18), prices)
    assert outside.volatility[WETH] < 0.03
    decision = strategy.decide(outside)
    assert targets(decision) == targets(ThresholdStrategy().decide(outside)) == BOOK_TARGETS
    assert decision.reason == (
        "outside volatility-widened band (bands x1.00 at most): WETH/USDC +8.00 pp (band 5.00 pp)"
    )
    inside = volatile_view(book, (44, 18, 19, 19), prices)
    assert isinstance(ThresholdStrategy().decide(inside), Hold)
    assert strategy.decide(inside) == Hold(
        "inside volatility-widened bands (bands x1.00 at most); largest drift WETH/USDC +4.00 pp"
    )


# --- IL guard ----------------------------------------------------------------------------------


def il_book(**guard: Any) -> Book:
    """LP WETH/USDC 50% entered at WETH 3,000 (10 WETH + 30,000 USDC), WETH 10%, USDC 40%."""
    return make_book(
        [
            {"pair": "WETH/USDC", "target": 0.5, "entry": {"WETH": "10", "USDC": "30000"}},
            {"token": "WETH", "target": 0.1},
            {"token": "USDC", "target": 0.4},
        ],
        strategy={"kind": "il_guard", **guard},
    )


@pytest.mark.parametrize("weth_price", [6000, 1500], ids=["WETH doubled", "WETH halved"])
def test_il_guard_past_max_il_moves_the_sleeve_to_keep_times_its_target(weth_price: int) -> None:
    book = il_book(max_il=0.05, keep=0.5)
    view = view_of(book, 50, 10, 40, weth_price=weth_price)
    assert ThresholdStrategy().decide(view) == Hold("inside bands; largest drift WETH/USDC +0.00 pp")
    decision = strategies.build(book).decide(view)
    # IL at a 2x move either way is 1 - 2*sqrt(2)/3 = 5.72%
    assert targets(decision) == {
        "WETH/USDC": Fraction(1, 4),
        "WETH": Fraction(1, 10),
        "USDC": Fraction(13, 20),
    }
    assert decision.reason == (
        "IL guard: WETH/USDC IL 5.72% > 5.00%: keep 50%; "
        "outside band: WETH/USDC +25.00 pp (band 5.00 pp); USDC -25.00 pp (band 5.00 pp)"
    )


def test_il_guard_with_keep_zero_leaves_the_pair_for_the_chosen_token() -> None:
    view = view_of(il_book(max_il=0.05), 50, 10, 40, weth_price=6000)
    assert targets(strategies.build(view.book).decide(view)) == {
        "WETH/USDC": 0,
        "WETH": Fraction(1, 10),
        "USDC": Fraction(9, 10),
    }
    to_weth = il_book(max_il=0.05, keep=0.2, to="WETH")
    decision = strategies.build(to_weth).decide(view_of(to_weth, 50, 10, 40, weth_price=6000))
    assert targets(decision) == {"WETH/USDC": Fraction(1, 10), "WETH": Fraction(1, 2), "USDC": Fraction(2, 5)}
    assert decision.reason.startswith("IL guard: WETH/USDC IL 5.72% > 5.00%: keep 20%; ")


def test_il_guard_keeps_holding_a_reduced_sleeve_while_the_price_stays_past_the_limit() -> None:
    book = il_book(max_il=0.05, keep=0.5)
    decision = strategies.build(book).decide(view_of(book, 25, 10, 65, weth_price=6000))
    assert decision == Hold(
        "IL guard holds WETH/USDC IL 5.72% > 5.00% at 50% of target; "
        "inside bands; largest drift WETH/USDC +0.00 pp"
    )


@pytest.mark.parametrize("percents", [(50, 10, 40), (58, 10, 32)], ids=["inside bands", "outside bands"])
def test_il_guard_below_max_il_decides_as_its_inner_strategy(percents: tuple[int, ...]) -> None:
    book = il_book(max_il=0.05, keep=0.5)
    view = view_of(book, *percents, weth_price=4000)  # +33%: IL 1.03%
    assert strategies.build(book).decide(view) == ThresholdStrategy().decide(view)
    inner = il_book(max_il=0.05, then={"kind": "partial", "fraction": 0.5})
    assert strategies.build(inner).decide(view) == PartialStrategy(
        Fraction(1, 2), ThresholdStrategy()
    ).decide(view)


def test_il_guard_ignores_a_sleeve_without_entry_amounts() -> None:
    book = make_book(
        [
            {"pair": "WETH/USDC", "target": 0.5},
            {"token": "WETH", "target": 0.1},
            {"token": "USDC", "target": 0.4},
        ],
        strategy={"kind": "il_guard", "max_il": 0.01},
    )
    view = view_of(book, 50, 10, 40, weth_price=6000)
    assert strategies.build(book).decide(view) == ThresholdStrategy().decide(view)


def test_il_guard_on_a_price_move_names_the_move() -> None:
    book = il_book(max_il=None, max_price_move=0.4)
    # USDC sorts first: the pair's price is WETH per USDC, which halved when WETH doubled; a
    # halving and a doubling are the same move
    decision = strategies.build(book).decide(view_of(book, 50, 10, 40, weth_price=6000))
    assert targets(decision) == {"WETH/USDC": 0, "WETH": Fraction(1, 10), "USDC": Fraction(9, 10)}
    assert decision.reason.startswith(
        "IL guard: WETH/USDC price moved 100.00% since entry > 40.00%: keep 0%; outside band: "
    )
    flipped = strategies.build(book).decide(view_of(book, 50, 10, 40, weth_price=6000, weth_is_token0=True))
    assert flipped.reason.startswith(
        "IL guard: WETH/USDC price moved 100.00% since entry > 40.00%: keep 0%; "
    )
    # a 33% move is under the limit: the inner threshold decides
    view = view_of(book, 50, 10, 40, weth_price=4000)
    assert strategies.build(book).decide(view) == ThresholdStrategy().decide(view)


def test_il_guard_price_move_trips_alike_whichever_token_sorts_first() -> None:
    book = il_book(max_il=None, max_price_move=0.3)
    usdc_first = strategies.build(book).decide(view_of(book, 50, 10, 40, weth_price=4000))
    weth_first = strategies.build(book).decide(
        view_of(book, 50, 10, 40, weth_price=4000, weth_is_token0=True)
    )
    assert isinstance(weth_first, Targets)  # +33.33% > 30%
    assert usdc_first == weth_first


def test_il_guard_finds_entry_amounts_when_the_chain_names_a_token_differently() -> None:
    book = il_book(max_il=0.05, keep=0.5)
    view = view_of(book, 50, 10, 40, weth_price=6000, symbols={"WETH": "WETH9"})
    assert view.tokens["WETH"].symbol == "WETH9"  # valuation maps the book's names by address: fine
    assert targets(strategies.build(book).decide(view))["WETH/USDC"] == Fraction(1, 4)


def test_il_guard_leaves_a_pair_that_shares_a_bucket() -> None:
    book = make_book(
        [
            {"pair": "WETH/USDC", "target": 0.3, "bucket": "eth", "entry": {"WETH": "10", "USDC": "30000"}},
            {"token": "WETH", "target": 0.2, "bucket": "eth"},
            {"token": "USDC", "target": 0.5},
        ],
        strategy={"kind": "il_guard", "max_il": 0.05, "keep": 0},
        buckets={"eth": {"band": 0.05}},
    )
    decision = strategies.build(book).decide(view_of(book, 30, 20, 50, weth_price=6000))
    # keep = 0 means leave the pair (the bucket's mix must not give it weight back)
    assert targets(decision)["WETH/USDC"] == 0


# --- partial -----------------------------------------------------------------------------------


def test_partial_moves_a_fraction_of_the_way_to_the_inner_targets_exactly() -> None:
    book = standard({"kind": "partial", "fraction": 0.3})
    decision = strategies.build(book).decide(view_of(book, 46, 16, 19, 19))
    assert targets(decision) == {
        "WETH/USDC": Fraction(221, 500),  # 0.46 - 0.3 * 0.06
        "WETH": Fraction(172, 1000),  # 0.16 + 0.3 * 0.04
        "USDC": Fraction(193, 1000),
        "DAI": Fraction(193, 1000),
    }
    assert decision.reason == "30% of the way: outside band: WETH/USDC +6.00 pp (band 5.00 pp)"


def test_partial_passes_a_hold_through_unchanged() -> None:
    book = standard({"kind": "partial", "fraction": 0.3})
    view = view_of(book, 42, 19, 20, 19)
    assert strategies.build(book).decide(view) == ThresholdStrategy().decide(view)
    assert strategies.build(book).decide(view) == Hold("inside bands; largest drift WETH/USDC +2.00 pp")


def test_partial_of_one_is_the_inner_strategy_and_wraps_any_inner_strategy() -> None:
    view = view_of(standard(), 46, 16, 19, 19, block=125)
    inner = CalendarStrategy(Schedule(blocks=10))
    whole = PartialStrategy(Fraction(1), inner).decide(view)
    assert targets(whole) == targets(inner.decide(view))
    half = PartialStrategy(Fraction(1, 2), inner).decide(view)
    assert targets(half)["WETH/USDC"] == Fraction(43, 100)
    assert half.reason == "50% of the way: calendar (every 10 blocks): due; largest drift WETH/USDC +6.00 pp"


# --- build -------------------------------------------------------------------------------------

GUARD = {"kind": "il_guard", "max_il": 0.02, "keep": 0.25}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"kind": "threshold"}, ThresholdStrategy()),
        ({"kind": "calendar", "every": "10 blocks"}, CalendarStrategy(Schedule(blocks=10))),
        ({"kind": "calendar"}, CalendarStrategy(Schedule(seconds=DAY_S))),
        ({"kind": "hybrid", "every": "6h"}, HybridStrategy(Schedule(seconds=6 * 3600))),
        ({"kind": "volatility"}, VolatilityStrategy(Fraction(3, 100), Fraction(3))),
        (
            {"kind": "volatility", "reference_vol": 0.05, "max_widen": 2.5},
            VolatilityStrategy(Fraction(1, 20), Fraction(5, 2)),
        ),
        (
            GUARD,
            IlGuardStrategy(Fraction(2, 100), None, Fraction(1, 4), "USDC", ThresholdStrategy()),
        ),
        (
            {"kind": "il_guard", "max_il": None, "max_price_move": 0.5, "to": "WETH", "then": "hybrid"},
            IlGuardStrategy(
                None, Fraction(1, 2), Fraction(0), "WETH", HybridStrategy(Schedule(seconds=DAY_S))
            ),
        ),
        ({"kind": "partial"}, PartialStrategy(Fraction(1, 2), ThresholdStrategy())),
        (
            {
                "kind": "partial",
                "fraction": 0.25,
                "then": {**GUARD, "then": {"kind": "calendar", "every": "block"}},
            },
            PartialStrategy(
                Fraction(1, 4),
                IlGuardStrategy(
                    Fraction(2, 100), None, Fraction(1, 4), "USDC", CalendarStrategy(Schedule(blocks=1))
                ),
            ),
        ),
    ],
    ids=[
        "threshold",
        "calendar in blocks",
        "calendar by default daily",
        "hybrid",
        "volatility by default",
        "volatility",
        "il_guard by default to the numeraire",
        "il_guard on price move then hybrid",
        "partial by default",
        "partial then il_guard then calendar",
    ],
)
def test_build_makes_the_strategy_the_config_describes(config: dict[str, Any], expected: Any) -> None:
    book = make_book(STANDARD_SLEEVES, strategy=config, buckets=STABLES)
    built = strategies.build(book)
    assert built == expected
    assert type(built) is type(expected)


def test_build_takes_an_explicit_config_over_the_books() -> None:
    book = standard({"kind": "calendar"})
    assert strategies.build(book, book.strategy) == CalendarStrategy(Schedule(seconds=DAY_S))
    partial = standard({"kind": "partial", "then": "volatility"}).strategy
    assert strategies.build(book, partial) == PartialStrategy(
        Fraction(1, 2), VolatilityStrategy(Fraction(3, 100), Fraction(3))
    )


# --- properties --------------------------------------------------------------------------------

BUCKETINGS = [
    {},
    {"USDC": "stables", "DAI": "stables"},
    {"USDC": "stables", "DAI": "stables", "WETH/USDC": "eth", "WETH": "eth"},
    {"WETH/USDC": "mixed", "DAI": "mixed"},
]


@st.composite
def random_views(draw: st.DrawFn) -> BookView:
    """The standard sleeves with random targets (in bps), relative bands, buckets and holdings."""
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=3, max_size=3)))
    bps = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    bucketing = draw(st.sampled_from(BUCKETINGS))
    relative = st.sampled_from([Decimal("0.1"), Decimal("0.25"), Decimal("0.5"), Decimal(1)])
    sleeves = []
    for sleeve, target in zip(STANDARD_SLEEVES, bps, strict=True):
        label = str(sleeve.get("pair") or sleeve.get("token"))
        kind = {k: v for k, v in sleeve.items() if k in ("pair", "token")}
        entry: dict[str, Any] = {**kind, "target": Decimal(target) / 10_000, "band_relative": draw(relative)}
        if label in bucketing:
            entry["bucket"] = bucketing[label]
        sleeves.append(entry)
    buckets = {name: {"band_relative": draw(relative)} for name in set(bucketing.values())}
    book = make_book(sleeves, buckets=buckets)
    # multiples of 3 USDC are whole base units of WETH and of the LP at 3,000
    values = {s.label: 3 * draw(st.integers(0, 100_000)) for s in book.sleeves}
    assume(sum(values.values()) > 0)
    return make_view(book, values)


@given(view=random_views())
def test_threshold_targets_sum_to_one_and_keep_each_buckets_mix(view: BookView) -> None:
    decision = ThresholdStrategy().decide(view)
    if isinstance(decision, Hold):
        assert not any(s.outside_band for s in view.sleeves if s.sleeve.bucket is None)
        assert not any(b.outside_band for b in view.buckets)
        return
    weights = targets(decision)
    assert all(w >= 0 for w in weights.values())
    for sleeve in view.sleeves:
        if sleeve.sleeve.bucket is None:
            assert weights[sleeve.label] == sleeve.target
    for bucket in view.buckets:
        assert sum(weights[m] for m in bucket.members) == bucket.target
        if bucket.value == 0:
            continue
        for member in bucket.members:
            assert weights[member] * bucket.value == bucket.target * view.sleeve(member).value


@given(view=random_views(), fraction=st.fractions(min_value=0, max_value=1).filter(lambda f: f > 0))
def test_partial_targets_lie_between_each_weight_and_its_target(view: BookView, fraction: Fraction) -> None:
    inner = ThresholdStrategy().decide(view)
    decision = PartialStrategy(fraction, ThresholdStrategy()).decide(view)
    if isinstance(inner, Hold):
        assert decision == inner
        return
    weights = targets(decision)
    for sleeve in view.sleeves:
        low, high = sorted([sleeve.weight, inner.weights[sleeve.label]])
        assert low <= weights[sleeve.label] <= high
        assert weights[sleeve.label] - sleeve.weight == fraction * (
            inner.weights[sleeve.label] - sleeve.weight
        )
