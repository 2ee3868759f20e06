"""Taxes in the plan: a plan's realized gains, their cost, and the year's budget. Pure, exact.

The plan's ops go through the same ledger rules as the journal's executed bundles, at the same
prices (`view_quotes`), so the gains predicted here are the gains the ledger later records.
When the whole way to the targets would realize more than the year's budget has left, the
book moves only part of the way: the largest share of each sleeve's distance to its target
(in steps of 1/SHARE_STEPS) whose plan stays within the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from bot.core.book import Moment
from bot.core.planner import Plan
from bot.core.tax_ledger import Bundle, Gains, OpFlow, TaxRules, gains, view_quotes
from bot.core.tax_lots import DAY_S, TERMS, Disposal, Ledger, LedgerShort
from bot.core.units import fmt
from bot.core.valuation import BookView

SHARE_STEPS = 256  # the budget's partial move is found to 1/256 of the way (8 plans)
PLANNED = "the plan"


@dataclass(frozen=True, slots=True)
class TaxContext:
    """What the planner knows of the book's taxes at a head.

    Attributes:
        ledger: the open lots after every journaled deposit, bundle and withdrawal.
        realized: the net gains already realized in `year` (by term).
        loss_sales: when each asset was last sold at a loss (for the wash-sale window).
    """

    rules: TaxRules
    ledger: Ledger
    year: int
    realized: Gains
    loss_sales: Mapping[str, Moment]

    def left(self) -> tuple[Fraction | None, Fraction | None]:
        """What the year's budgets have left by term (None: no budget); never below 0."""
        tax = self.rules.tax

        def one(budget: object, used: Fraction) -> Fraction | None:
            return None if budget is None else max(Fraction(str(budget)) - used, Fraction(0))

        return one(tax.short_budget, self.realized.short), one(tax.long_budget, self.realized.long)


@dataclass(frozen=True, slots=True)
class TaxImpact:
    """What a plan realizes: its sales lot by lot, their net gains, the tax on them, and how
    far toward the targets it goes (1: all the way; less when the budget holds it back)."""

    disposals: tuple[Disposal, ...]
    gains: Gains
    cost: Fraction
    left: tuple[Fraction | None, Fraction | None]
    share: Fraction = Fraction(1)
    note: str = ""


def _flows(plan: Plan) -> tuple[OpFlow, ...]:
    return tuple(OpFlow(type(p.op).__name__.lower(), p.spent, p.received) for p in plan.ops)


def impact(ctx: TaxContext, view: BookView, plan: Plan) -> TaxImpact:
    """The plan's sales and tax, on the ledger at the view's prices.

    Raises:
        LedgerShort: the plan sells more of an asset than the ledger's lots hold.
    """
    bundle = Bundle(0, PLANNED, view.now.block, view.now, _flows(plan), view_quotes(view))
    _, applied = ctx.rules.apply(ctx.ledger, bundle)
    g = gains(applied.disposals)
    return TaxImpact(applied.disposals, g, ctx.rules.cost_of(g), ctx.left())


def over_budget(ctx: TaxContext, g: Gains) -> list[str]:
    """The terms whose gains pass what the year's budget has left."""
    short, long = ctx.left()
    over = []
    if short is not None and g.short > short:
        over.append("short")
    if long is not None and g.long > long:
        over.append("long")
    return over


def net_buys(plan: Plan) -> set[str]:
    """Assets the plan ends up holding more of (what it buys, net of what it sells)."""
    net: dict[str, int] = {}
    for p in plan.ops:
        for a, n in p.received.items():
            net[a] = net.get(a, 0) + n
        for a, n in p.spent.items():
            net[a] = net.get(a, 0) - n
    return {a for a, n in net.items() if n > 0}


def wash_sale(ctx: TaxContext, view: BookView, plan: Plan) -> str | None:
    """Why the plan would buy back within the wash-sale window of a loss sale (None: it does not)."""
    days = ctx.rules.tax.wash_sale_days
    if days == 0:
        return None
    for asset in sorted(net_buys(plan)):
        sold = ctx.loss_sales.get(asset)
        if sold is not None and view.now.timestamp - sold.timestamp < days * DAY_S:
            return (
                f"it would buy back {ctx.rules.label(asset)} within {days} days of its sale at a loss "
                f"in block {sold.block} ([tax] wash_sale_days)"
            )
    return None


def scaled(view: BookView, targets: Mapping[str, Fraction], share: Fraction) -> dict[str, Fraction]:
    """Each sleeve `share` of the way from its weight now to its target."""
    now = {s.label: s.weight for s in view.sleeves}
    return {
        label: now.get(label, Fraction(0)) + share * (t - now.get(label, Fraction(0)))
        for label, t in targets.items()
    }


def within_budget(
    ctx: TaxContext,
    view: BookView,
    targets: Mapping[str, Fraction],
    whole: Plan,
    whole_impact: TaxImpact,
    replan: Callable[[Mapping[str, Fraction]], Plan],
) -> tuple[Plan, TaxImpact]:
    """The plan that goes as far toward `targets` as the year's budget allows (bisection on the
    share of the way; gains grow with it), with a note saying how far and why."""
    over = over_budget(ctx, whole_impact.gains)
    if not over:
        return whole, whole_impact
    low, high = 0, SHARE_STEPS  # low: within the budget (0: no trade); high: over it
    best: tuple[Plan, TaxImpact] | None = None
    while high - low > 1:
        mid = (low + high) // 2
        plan = replan(scaled(view, targets, Fraction(mid, SHARE_STEPS)))
        try:
            found = impact(ctx, view, plan)
        except LedgerShort:
            high = mid
            continue
        if over_budget(ctx, found.gains):
            high = mid
        else:
            low, best = mid, (plan, found)
    said = []
    for term, left in zip(TERMS, ctx.left(), strict=True):
        if term in over:
            said.append(
                f"{fmt(whole_impact.gains.of(term), 2)} of {term}-term gains, over the "
                f"{fmt(left, 2)} left of {ctx.year}'s {term}_budget"
            )
    why = f"the whole way would realize {' and '.join(said)}"
    if best is None or not best[0].ops:
        note = f"the tax budget allows no part of the way: {why}"
        return (best[0] if best else whole), replace(whole_impact, share=Fraction(0), note=note)
    plan, found = best
    share = Fraction(low, SHARE_STEPS)
    note = f"moves {fmt(share * 100, 1)}% of the way to the targets: {why}"
    return plan, replace(found, share=share, note=note)
