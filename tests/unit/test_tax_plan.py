"""Taxes in the decision: the tax as a cost, the year's budget as a partial move, zero budget,
the wash-sale window, specific lots, and a book without `[tax]` planning exactly as before."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

import strategies
from bot.core.book import Book, Moment
from bot.core.decision import Held, Rebalance, decide
from bot.core.tax_ledger import Gains, view_rules
from bot.core.tax_lots import DAY_S, Ledger
from bot.core.tax_plan import TaxContext, impact
from bot.core.units import fmt
from bot.core.valuation import BookView
from bot.report import plan_report
from tests.unit.views import TIMESTAMP, TOKENS, book_raw, make_view

SLEEVES = [{"token": "WETH", "target": 0.5}, {"token": "USDC", "target": 0.5}]
VALUES = {"WETH": 600_000, "USDC": 400_000}  # WETH 10 points over its target at 3,000 USDC
WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address


def book(**tax: Any) -> Book:
    raw = book_raw(SLEEVES, policy={"band": 0.02, "benefit_bps": 10_000, "max_cost_bps": 10_000})
    if tax is not None:
        raw["tax"] = {"short_rate": 0.3, "long_rate": 0.15, **tax}
    return Book.parse(raw)


def context(view: BookView, weth_unit_cost: Fraction, days_ago: int = 30, **kw: Any) -> TaxContext:
    """The vault's holdings as one lot per token: WETH at `weth_unit_cost` USDC, USDC at 1."""
    held = view.snapshot.balances
    when = Moment(1, TIMESTAMP - days_ago * DAY_S)
    ledger = Ledger().acquire(WETH, held[WETH], weth_unit_cost * held[WETH] / 10**18, when, "test", "WETH")
    ledger = ledger.acquire(USDC, held[USDC], Fraction(held[USDC], 10**6), when, "test", "USDC")
    return TaxContext(view_rules(view), ledger, 2023, kw.get("realized", Gains()), kw.get("loss_sales", {}))


def run(view: BookView, ctx: TaxContext | None) -> Rebalance | Held:
    return decide(view, strategies.build(view.book), tax=ctx)


def test_without_a_budget_the_whole_way_is_taken_and_its_tax_is_a_cost() -> None:
    view = make_view(book(), VALUES)
    untaxed = run(make_view(Book.parse(book_raw(SLEEVES, policy=dict(view.book.policy))), VALUES), None)
    taxed = run(view, context(view, Fraction(1000)))
    assert isinstance(taxed, Rebalance) and isinstance(untaxed, Rebalance) and taxed.tax is not None
    assert [p.op for p in taxed.plan.ops] == [p.op for p in untaxed.plan.ops]
    # 100,000 USDC of WETH sold, bought at 1,000 and sold at about 3,000: about 2/3 of it is gain
    g = taxed.tax.gains
    assert Fraction(60_000) < g.short < Fraction(200_000, 3) and g.long == 0
    assert taxed.tax.cost == g.short * Fraction(3, 10)
    assert taxed.plan.costs.tax == taxed.tax.cost
    assert taxed.plan.costs.total == untaxed.plan.costs.total + taxed.tax.cost
    assert sum(d.proceeds - d.basis for d in taxed.tax.disposals) == g.total
    text = plan_report.render(view, taxed)
    assert "; without the tax " in text and "expected benefit" in text
    assert "tax (hifo, LP as trade):" in text and "from WETH#1" in text and "short term" in text
    assert plan_report.as_json(view, taxed)["tax"]["gains"]["short"] == fmt(g.short, 18).replace(",", "")


def test_a_rebalance_over_the_budget_moves_part_of_the_way_and_stays_within_it() -> None:
    view = make_view(book(short_budget=20_000), VALUES)
    ctx = context(view, Fraction(1000), realized=Gains(Fraction(5_000)))
    decision = run(view, ctx)
    assert isinstance(decision, Rebalance) and decision.tax is not None
    assert 0 < decision.tax.share < 1
    assert 0 < decision.tax.gains.short <= 15_000  # what the year's 20,000 has left
    assert decision.tax.gains.short > 15_000 * Fraction(9, 10)  # as far as the budget allows, to 1/256
    assert "moves" in decision.reason and "over the 15,000.00 left of 2023's short_budget" in decision.reason
    # the prediction is the ledger's computation on the plan that is sent
    assert impact(ctx, view, decision.plan).gains == decision.tax.gains
    weth = decision.plan.weights_after["WETH"]
    assert Fraction(1, 2) < weth < Fraction(3, 5)


def test_zero_budget_holds_when_every_lot_is_at_a_gain() -> None:
    view = make_view(book(short_budget=0, long_budget=0), VALUES)
    decision = run(view, context(view, Fraction(1000)))
    assert isinstance(decision, Held) and "the tax budget allows no part of the way" in decision.reason


def test_zero_budget_sells_at_a_loss() -> None:
    view = make_view(book(short_budget=0, long_budget=0), VALUES)
    decision = run(view, context(view, Fraction(5000)))
    assert isinstance(decision, Rebalance) and decision.tax is not None and decision.tax.share == 1
    assert all(d.gain < 0 for d in decision.tax.disposals)
    assert decision.tax.cost == 0  # a loss costs no tax; it saves some only when harvested


def test_harvested_losses_count_as_a_benefit() -> None:
    view = make_view(book(harvest_losses=True), VALUES)
    decision = run(view, context(view, Fraction(5000)))
    assert isinstance(decision, Rebalance) and decision.tax is not None
    assert decision.tax.cost == decision.tax.gains.short * Fraction(3, 10) < 0


def test_long_term_gains_pay_the_long_rate() -> None:
    view = make_view(book(), VALUES)
    decision = run(view, context(view, Fraction(1000), days_ago=400))
    assert isinstance(decision, Rebalance) and decision.tax is not None
    assert decision.tax.gains.short == 0 < decision.tax.gains.long
    assert decision.tax.cost == decision.tax.gains.long * Fraction(15, 100)


def test_a_tax_larger_than_the_benefit_holds() -> None:
    raw = book_raw(SLEEVES, policy={"band": 0.02, "benefit_bps": 100, "max_cost_bps": 10_000})
    raw["tax"] = {"short_rate": 0.5}
    view = make_view(Book.parse(raw), VALUES)
    decision = run(view, context(view, Fraction(1000)))
    assert isinstance(decision, Held) and "exceeds the expected benefit" in decision.reason


def test_the_wash_sale_window_keeps_from_buying_back() -> None:
    under = {"WETH": 390_000, "USDC": 610_000}  # the plan buys WETH
    view = make_view(book(wash_sale_days=30), under)
    sold = Moment(900, TIMESTAMP - 3 * DAY_S)
    decision = run(view, context(view, Fraction(1000), loss_sales={WETH: sold}))
    assert (
        isinstance(decision, Held) and "buy back WETH within 30 days of its sale at a loss" in decision.reason
    )
    later = run(view, context(view, Fraction(1000), loss_sales={WETH: Moment(1, TIMESTAMP - 31 * DAY_S)}))
    assert isinstance(later, Rebalance)


@pytest.mark.parametrize("method", ["hifo", "specific"])
def test_hifo_and_specific_sell_the_cheapest_lots_to_tax(method: str) -> None:
    view = make_view(book(method=method), VALUES)
    held = view.snapshot.balances[WETH]
    old = Moment(1, TIMESTAMP - 30 * DAY_S)
    ledger = Ledger()
    for cost in (1000, 3500, 2000):  # thirds of the holding at these unit costs
        ledger = ledger.acquire(WETH, held // 3, Fraction(cost * (held // 3), 10**18), old, "t", "WETH")
    ledger = ledger.acquire(USDC, view.snapshot.balances[USDC], Fraction(400_000), old, "t", "USDC")
    decision = run(view, TaxContext(view_rules(view), ledger, 2023, Gains(), {}))
    assert isinstance(decision, Rebalance) and decision.tax is not None
    weth_lots = [d.lot_id for d in decision.tax.disposals if d.asset == WETH]
    assert weth_lots == ["WETH#2"]  # the 3,500 lot, sold at a loss
