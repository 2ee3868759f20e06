"""A backtest's figures: returns, excess over the baselines, costs, risk, per rebalance. Pure.

Reporting arithmetic on the run's float values (the decisions and amounts were exact). The three
portfolios: `policy` (the book's strategy, net of the gas its keeper paid), `hold` (the start
tokens, LP taken apart at the start), `lp` (the start LP and idle tokens, never rebalanced).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.backtest import SECONDS_PER_YEAR, Result

PORTFOLIOS = ("policy", "hold", "lp")


@dataclass(frozen=True, slots=True)
class Figures:
    """One portfolio's run."""

    final: float
    ret: float  # over the run
    annualized: float
    max_drawdown: float
    volatility: float  # a year
    sharpe: float


def _annualized(ret: float, years: float) -> float:
    if years <= 0 or ret <= -1:
        return ret
    try:
        return float((1 + ret) ** (1 / years) - 1)
    except OverflowError:
        return float("inf")


def figures(result: Result) -> dict[str, Figures]:
    """Final value, return, annualized return, drawdown, volatility and Sharpe of each portfolio."""
    years = (result.end_timestamp - result.start_timestamp) / SECONDS_PER_YEAR
    per_year = SECONDS_PER_YEAR / result.step_s
    out = {}
    for name in PORTFOLIOS:
        stats = result.returns[name]
        ret = result.final[name] / result.start_value - 1 if result.start_value else 0.0
        out[name] = Figures(
            final=result.final[name],
            ret=ret,
            annualized=_annualized(ret, years),
            max_drawdown=stats.max_drawdown,
            volatility=stats.volatility(per_year),
            sharpe=stats.sharpe(per_year),
        )
    return out


def summary(result: Result) -> dict[str, Any]:
    """Everything a report shows, as plain JSON-ready values."""
    figs = figures(result)
    start = result.start_value
    policy = figs["policy"]
    mean_value = sum(result.series.policy) / len(result.series.policy) if result.series.policy else start
    paid = [r.paid for r in result.rebalances if r.paid is not None]
    return {
        "book": result.book,
        "numeraire": result.numeraire,
        "history": result.path,
        "strategy": result.strategy,
        "steps": result.steps,
        "evaluations": result.evaluations,
        "blocks": [result.start_block, result.end_block],
        "period": [result.start_timestamp, result.end_timestamp],
        "days": round((result.end_timestamp - result.start_timestamp) / 86_400, 4),
        "start_value": start,
        "portfolios": {
            name: {
                "final": f.final,
                "return": f.ret,
                "annualized": f.annualized,
                "max_drawdown": f.max_drawdown,
                "volatility": f.volatility,
                "sharpe": f.sharpe,
            }
            for name, f in figs.items()
        },
        "excess": {
            "vs_hold": policy.final - figs["hold"].final,
            "vs_lp": policy.final - figs["lp"].final,
            "vs_hold_pct": (policy.final - figs["hold"].final) / start if start else 0.0,
            "vs_lp_pct": (policy.final - figs["lp"].final) / start if start else 0.0,
        },
        "fees": result.fees,
        "impermanent_loss": result.il,
        "lvr": result.lvr,
        "gas": {
            "wei": str(result.gas_wei),
            "value": result.gas_value,
            "pokes": result.pokes,
            "pokes_wei": str(result.poke_gas_wei),
        },
        "adversary_take": result.adversary_value,
        "rebalances": len(result.rebalances),
        "turnover": result.turnover_value / mean_value if mean_value else 0.0,
        "traded_value": result.turnover_value,
        "tracking_error": result.tracking_error,
        "refusals": dict(sorted(result.refusals.items())),
        "holds": dict(sorted(result.holds.items())),
        "paid": {"checked": len(paid), "paid": sum(1 for p in paid if p >= 0)},
        "rebalance_list": [
            {
                "decided_block": r.decided_block,
                "block": r.block,
                "timestamp": r.timestamp,
                "traded_value": r.traded_value,
                "cost": r.cost,
                "benefit": r.benefit,
                "gas_units": r.gas_units,
                "gas_wei": str(r.gas_wei),
                "gas_value": r.gas_value,
                "adversary_take": r.adversary_value,
                "paid": r.paid,
                "ops": [
                    {
                        "op": type(o.op).__name__.lower(),
                        "pair": o.op.pair,
                        "spent": {a: str(v) for a, v in o.spent.items()},
                        "received": {a: str(v) for a, v in o.received.items()},
                    }
                    for o in r.ops
                ],
                "reason": r.reason,
            }
            for r in result.rebalances
        ],
    }
