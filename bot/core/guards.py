"""What may stop a rebalance the strategy wants: the keeper's guards. Pure.

The kill switch and the circuit breaker stop everything; the other guards refuse one plan
(the keeper holds and looks again at the next head). Each refusal names its guard, so logs,
metrics and alerts can tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from bot.core.book import Guards
from bot.core.planner import Plan
from bot.core.pricing import Price

# the guards a person may override by name (`--override GUARD`, journaled with the run); the gas
# balance and the fee cap are not among them: a send they refuse could not be paid for
GUARD_NAMES = ("kill_switch", "gas_price", "gas_budget", "twap_deviation", "bundle_value")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a plan is not sent: `guard` is a short name (for metrics), `reason` one line."""

    guard: str
    reason: str


@dataclass(frozen=True, slots=True)
class Spending:
    """What a send would cost and what is left, in wei."""

    next_base_fee: int
    gas_cost: int  # the plan's gas at the fee cap it would be sent with
    spent_today: int  # gas paid by the book's executed bundles and pokes since 00:00 UTC
    keeper_balance: int


def plan_tokens(plan: Plan) -> set[str]:
    """The addresses of every token the plan's ops spend or receive (LP tokens included)."""
    return {address for op in plan.ops for address in (*op.spent, *op.received)}


def twap_deviation(
    spot: Mapping[str, Price], twap: Mapping[str, Price], tokens: set[str]
) -> tuple[str, Fraction] | None:
    """The token among `tokens` (keys of the price maps) whose spot price is furthest from its
    TWAP, and how far (a ratio); None when no token has both."""
    worst: tuple[str, Fraction] | None = None
    for token in sorted(tokens):
        if token not in spot or not has_twap(twap, token) or twap[token].value <= 0:
            continue
        deviation = abs(spot[token].value / twap[token].value - 1)
        if worst is None or deviation > worst[1]:
            worst = (token, deviation)
    return worst


def has_twap(twap: Mapping[str, Price], token: str) -> bool:
    """Whether `twap` holds a time-weighted price of `token` (not spot standing in for one)."""
    price = twap.get(token)
    return price is not None and price.kind.startswith("twap")


def without_twap(spot: Mapping[str, Price], twap: Mapping[str, Price], tokens: set[str]) -> list[str]:
    """The priced tokens among `tokens` that have no TWAP (the numeraire, priced by definition, excepted)."""
    return [t for t in sorted(tokens) if t in spot and spot[t].route and not has_twap(twap, t)]


def midnight_utc(now: float) -> float:
    """The start of `now`'s UTC day (the daily gas budget's)."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def check_spending(
    guards: Guards, spending: Spending, overrides: frozenset[str] = frozenset()
) -> Refusal | None:
    """The gas guards alone (price, daily budget, balance): every transaction the keeper sends
    (a bundle, a poke) passes them."""
    max_price = guards.max_gas_price_wei
    if max_price is not None and spending.next_base_fee > max_price and "gas_price" not in overrides:
        return Refusal(
            "gas_price",
            f"next base fee {spending.next_base_fee / 1e9:.3f} gwei is above max_gas_price_gwei "
            f"{guards.max_gas_price_gwei}",
        )
    budget = guards.daily_gas_budget_wei
    over_budget = budget is not None and spending.spent_today + spending.gas_cost > budget
    if over_budget and "gas_budget" not in overrides:
        return Refusal(
            "gas_budget",
            f"today's gas {spending.spent_today / 1e18:.6f} + up to {spending.gas_cost / 1e18:.6f} would "
            f"exceed the daily budget {guards.daily_gas_budget}",
        )
    if spending.keeper_balance < spending.gas_cost:
        return Refusal(
            "gas_balance",
            f"the keeper holds {spending.keeper_balance / 1e18:.6f} native; the bundle may cost up to "
            f"{spending.gas_cost / 1e18:.6f}",
        )
    return None


def check_plan(
    guards: Guards,
    plan: Plan,
    *,
    spot: Mapping[str, Price],
    twap: Mapping[str, Price],
    spending: Spending,
    names: Mapping[str, str] | None = None,
    overrides: frozenset[str] = frozenset(),
) -> Refusal | None:
    """The first guard that refuses `plan`, or None when every guard lets it through.

    Args:
        spot, twap: prices by token address; those of every token the plan trades are compared. A
            traded token with no TWAP (the window has no history) is refused: spot never stands in.
        names: token symbols by address, for the reason.
        overrides: guards (of GUARD_NAMES) a person chose to pass over for this run.
    """
    unknown = overrides - set(GUARD_NAMES)
    if unknown:
        raise ValueError(f"no such guard to override: {', '.join(sorted(unknown))}")
    name = (names or {}).get
    refusal = check_spending(guards, spending, overrides)
    if refusal is not None:
        return refusal
    if guards.max_twap_deviation is not None and "twap_deviation" not in overrides:
        traded = plan_tokens(plan)
        missing = without_twap(spot, twap, traded)
        if missing:
            return Refusal(
                "twap_deviation",
                f"no TWAP for {', '.join(name(t, t) for t in missing)}: the window has no history yet, "
                "and spot alone cannot tell a fair price from a pushed one",
            )
        worst = twap_deviation(spot, twap, traded)
        if worst is not None and worst[1] > Fraction(guards.max_twap_deviation):
            return Refusal(
                "twap_deviation",
                f"{name(worst[0], worst[0])} spot is {float(worst[1]):.2%} from its TWAP (limit "
                f"{float(guards.max_twap_deviation):.2%}): the pool may be manipulated",
            )
    cap = guards.max_bundle_value
    if cap is not None and plan.costs.traded_value > Fraction(cap) and "bundle_value" not in overrides:
        return Refusal(
            "bundle_value",
            f"the bundle moves {float(plan.costs.traded_value):,.2f}, above max_bundle_value {cap}",
        )
    return None


@dataclass(slots=True)
class CircuitBreaker:
    """Counts failures in a row; trips at `limit` (the keeper then pauses itself)."""

    limit: int
    failures: int = 0

    def failed(self) -> bool:
        """One more failure; True when this one trips the breaker."""
        self.failures += 1
        return self.failures == self.limit

    def succeeded(self) -> None:
        self.failures = 0

    @property
    def tripped(self) -> bool:
        return self.failures >= self.limit
