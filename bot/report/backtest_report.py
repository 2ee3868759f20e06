"""A backtest as text tables, JSON and a per-step CSV; a sweep as a ranking."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.backtest import Result
from bot.report.book_table import grid

NAMES = {"policy": "policy", "hold": "hold the start tokens", "lp": "LP, never rebalanced"}
LISTED_REBALANCES = 10


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _signed(value: float) -> str:
    return f"{value:+,.2f}"


def _pct(value: float) -> str:
    return f"{value * 100:+.2f}%"


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def render(summaries: Sequence[Mapping[str, Any]], numeraire: str) -> str:
    """One history's report: the policy (and any compared strategies) against both baselines."""
    first = summaries[0]
    lines = [
        f"Backtest of {first['book']} on {first['history']}",
        f"{_day(first['period'][0])} to {_day(first['period'][1])} UTC: {first['days']:g} days, "
        f"{first['steps']:,} steps; start value {_money(first['start_value'])} {numeraire}",
        "",
    ]
    rows = []
    for s in summaries:
        p = s["portfolios"]["policy"]
        rows.append(_figure_row(f"{s['strategy']}", p))
    for name in ("hold", "lp"):
        rows.append(_figure_row(NAMES[name], first["portfolios"][name]))
    lines += grid(
        ["portfolio", f"final {numeraire}", "return", "a year", "max drawdown", "vol", "Sharpe"], rows
    )
    lines.append("")
    rows = []
    for s in summaries:
        e = s["excess"]
        rows.append(
            [
                s["strategy"],
                f"{_signed(e['vs_hold'])} ({_pct(e['vs_hold_pct'])})",
                f"{_signed(e['vs_lp'])} ({_pct(e['vs_lp_pct'])})",
                _money(s["fees"]["policy"]),
                _signed(s["impermanent_loss"]["policy"]),
                _money(s["lvr"]["policy"]),
                _money(s["gas"]["value"]),
                f"{s['rebalances']}",
                f"{s['turnover']:.2f}x",
                f"{s['tracking_error'] * 100:.2f}%",
            ]
        )
    rows.append(
        [
            NAMES["lp"],
            "",
            "",
            _money(first["fees"]["lp"]),
            _signed(first["impermanent_loss"]["lp"]),
            _money(first["lvr"]["lp"]),
            "0.00",
            "0",
            "",
            "",
        ]
    )
    lines += grid(
        ["policy", "vs hold", "vs LP", "LP fees", "IL", "LVR", "gas", "rebalances", "turnover", "tracking"],
        rows,
    )
    for s in summaries:
        lines += ["", *_details(s, numeraire)]
    return "\n".join(lines)


def _figure_row(name: str, f: Mapping[str, float]) -> list[str]:
    return [
        name,
        _money(f["final"]),
        _pct(f["return"]),
        _pct(f["annualized"]),
        f"{f['max_drawdown'] * 100:.2f}%",
        f"{f['volatility'] * 100:.1f}%",
        f"{f['sharpe']:.2f}",
    ]


def _details(s: Mapping[str, Any], numeraire: str) -> list[str]:
    lines = [f"{s['strategy']}: {s['evaluations']:,} evaluations"]
    if s["holds"]:
        lines.append("  held: " + ", ".join(f"{n} {why}" for why, n in s["holds"].items()))
    if s["refusals"]:
        lines.append("  refused by guards: " + ", ".join(f"{g} {n}" for g, n in s["refusals"].items()))
    if s["gas"]["pokes"]:
        lines.append(
            f"  {s['gas']['pokes']} pokes kept the vault's TWAP guard usable "
            f"({int(s['gas']['pokes_wei']) / 1e18:.6f} native)"
        )
    if s["adversary_take"]:
        lines.append(f"  an adversary took {_money(s['adversary_take'])} {numeraire}")
    paid = s["paid"]
    if paid["checked"]:
        lines.append(f"  {paid['paid']} of {paid['checked']} rebalances paid for themselves by the check")
    listed = s["rebalance_list"][:LISTED_REBALANCES]
    if listed:
        rows = [
            [
                f"{r['block']}",
                _day(r["timestamp"]),
                _money(r["traded_value"]),
                _money(r["cost"]),
                _money(r["benefit"]),
                _money(r["gas_value"]),
                "" if r["paid"] is None else _signed(r["paid"]),
            ]
            for r in listed
        ]
        lines += [
            "  " + line
            for line in grid(["block", "UTC", "traded", "cost", "benefit", "gas", "paid by check"], rows)
        ]
        more = len(s["rebalance_list"]) - len(listed)
        if more > 0:
            lines.append(f"  … and {more} more (JSON and the CSV have them all)")
    return lines


def ranking(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    """A sweep's points ranked by excess over holding: their settings, history and figures."""
    ordered = sorted(rows, key=lambda r: -r["excess"]["vs_hold"])
    table = []
    for rank, r in enumerate(ordered, start=1):
        table.append(
            [
                f"{rank}",
                *[str(r["point"].get(k, "")) for k in keys],
                r["history"],
                _signed(r["excess"]["vs_hold"]),
                _signed(r["excess"]["vs_lp"]),
                f"{r['rebalances']}",
                _money(r["gas"]["value"]),
                f"{r['portfolios']['policy']['sharpe']:.2f}",
            ]
        )
    return "\n".join(grid(["#", *keys, "history", "vs hold", "vs LP", "rebalances", "gas", "Sharpe"], table))


def steps_csv(result: Result) -> str:
    """The sampled steps: values of the three portfolios, fees, LVR, IL, gas, tracking and weights."""
    s = result.series
    out = io.StringIO()
    writer = csv.writer(out)
    labels = list(s.weights)
    writer.writerow(
        [
            "timestamp", "block", "policy", "hold", "lp", "fees_policy", "fees_lp", "lvr_policy", "lvr_lp",
            "il_policy", "il_lp", "gas", "tracking", "base_fee_gwei", *[f"weight {k}" for k in labels],
        ]
    )  # fmt: skip
    for i, ts in enumerate(s.timestamp):
        writer.writerow(
            [
                ts, s.block[i], f"{s.policy[i]:.6f}", f"{s.hold[i]:.6f}", f"{s.lp[i]:.6f}",
                f"{s.fees_policy[i]:.6f}", f"{s.fees_lp[i]:.6f}", f"{s.lvr_policy[i]:.6f}",
                f"{s.lvr_lp[i]:.6f}", f"{s.il_policy[i]:.6f}", f"{s.il_lp[i]:.6f}", f"{s.gas[i]:.6f}",
                f"{s.tracking[i]:.6f}", f"{s.base_fee_gwei[i]:.4f}",
                *[f"{s.weights[k][i]:.6f}" for k in labels],
            ]
        )  # fmt: skip
    return out.getvalue()
