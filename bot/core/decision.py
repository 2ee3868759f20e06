"""One head's decision: the strategy's targets, the plan, and the cost gate. Pure.

The strategy says whether the book should move; the planner says what moving costs; the
gate holds when the cost is more than the book allows (in bps of the value traded) or
more than the expected benefit (misallocated value removed, times the book's benefit_bps).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.gas_model import GasModel
from bot.core.planner import Plan, plan_rebalance
from bot.core.strategy import Hold, Strategy, Targets
from bot.core.units import fmt
from bot.core.valuation import BookView


@dataclass(frozen=True, slots=True)
class Rebalance:
    """Act: the strategy's targets and the plan that reaches them."""

    targets: Targets
    plan: Plan
    reason: str


@dataclass(frozen=True, slots=True)
class Held:
    """Do nothing now; `plan` is what acting would have been (None when the strategy itself held)."""

    reason: str
    plan: Plan | None = None


Decision = Rebalance | Held


def decide(
    view: BookView, strategy: Strategy, gas_model: GasModel | None = None, base_fee_wei: int | None = None
) -> Decision:
    """Strategy, plan and cost gate for the book in `view`."""
    wanted = strategy.decide(view)
    if isinstance(wanted, Hold):
        return Held(wanted.reason)
    plan = plan_rebalance(view, wanted.weights, gas_model, base_fee_wei)
    if not plan.ops:
        return Held(f"{wanted.reason}; but every trade is under the deadband or the minimum trade", plan)
    costs = plan.costs
    policy = view.book.policy
    n = view.book.numeraire
    if costs.bps > policy.max_cost_bps:
        return Held(
            f"{wanted.reason}; but the plan costs {fmt(costs.bps, 1)} bps of the value traded, "
            f"over the book's maximum of {policy.max_cost_bps} bps",
            plan,
        )
    if costs.total > costs.benefit:
        return Held(
            f"{wanted.reason}; but its cost {fmt(costs.total, 2)} {n} exceeds the expected benefit "
            f"{fmt(costs.benefit, 2)} {n}",
            plan,
        )
    return Rebalance(
        wanted,
        plan,
        f"{wanted.reason}; cost {fmt(costs.total, 2)} {n} ({fmt(costs.bps, 1)} bps) "
        f"for a benefit of {fmt(costs.benefit, 2)} {n}",
    )
