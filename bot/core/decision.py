"""One head's decision: the strategy's targets, the plan, and the cost gate. Pure.

The strategy says whether the book should move; the planner says what moving costs; the
gate holds when the cost is more than the book allows (in bps of the value traded) or
more than the expected benefit (misallocated value removed, times the book's benefit_bps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from bot.core.gas_model import GasModel
from bot.core.planner import Plan, plan_rebalance
from bot.core.strategy import Hold, Strategy, Targets
from bot.core.tax_lots import LedgerShort
from bot.core.tax_plan import TaxContext, TaxImpact, impact, wash_sale, within_budget
from bot.core.units import fmt
from bot.core.valuation import BookView


@dataclass(frozen=True, slots=True)
class Rebalance:
    """Act: the strategy's targets and the plan that reaches them."""

    targets: Targets
    plan: Plan
    reason: str
    tax: TaxImpact | None = None


@dataclass(frozen=True, slots=True)
class Held:
    """Do nothing now; `plan` is what acting would have been (None when the strategy itself held)."""

    reason: str
    plan: Plan | None = None
    tax: TaxImpact | None = None


Decision = Rebalance | Held


def decide(
    view: BookView,
    strategy: Strategy,
    gas_model: GasModel | None = None,
    base_fee_wei: int | None = None,
    tax: TaxContext | None = None,
) -> Decision:
    """Strategy, plan and cost gate for the book in `view`; with `tax` (a book with `[tax]`), the
    plan's tax is a cost, and the year's budget may hold it to part of the way."""
    wanted = strategy.decide(view)
    if isinstance(wanted, Hold):
        return Held(wanted.reason)

    def replan(targets: Mapping[str, Fraction]) -> Plan:
        return plan_rebalance(view, targets, gas_model, base_fee_wei)

    plan = replan(wanted.weights)
    reason = wanted.reason
    taxed: TaxImpact | None = None
    if tax is not None and plan.ops:
        try:
            taxed = impact(tax, view, plan)
        except LedgerShort as exc:
            return Held(f"{reason}; but the tax ledger cannot price its sales: {exc}", plan)
        plan, taxed = within_budget(tax, view, wanted.weights, plan, taxed, replan)
        if taxed.share == 0:
            return Held(f"{reason}; but {taxed.note}", plan, taxed)
        if taxed.note:
            reason = f"{reason}; {taxed.note}"
        washed = wash_sale(tax, view, plan)
        if washed is not None:
            return Held(f"{reason}; but {washed}", plan, taxed)
        plan = replace(plan, costs=replace(plan.costs, tax=taxed.cost))
    if not plan.ops:
        return Held(f"{reason}; but every trade is under the deadband or the minimum trade", plan, taxed)
    costs = plan.costs
    policy = view.book.policy
    n = view.book.numeraire
    if costs.bps > policy.max_cost_bps:
        return Held(
            f"{reason}; but the plan costs {fmt(costs.bps, 1)} bps of the value traded, "
            f"over the book's maximum of {policy.max_cost_bps} bps",
            plan,
            taxed,
        )
    if costs.total > costs.benefit:
        return Held(
            f"{reason}; but its cost {fmt(costs.total, 2)} {n} exceeds the expected benefit "
            f"{fmt(costs.benefit, 2)} {n}",
            plan,
            taxed,
        )
    return Rebalance(
        wanted,
        plan,
        f"{reason}; cost {fmt(costs.total, 2)} {n} ({fmt(costs.bps, 1)} bps) "
        f"for a benefit of {fmt(costs.benefit, 2)} {n}",
        taxed,
    )
