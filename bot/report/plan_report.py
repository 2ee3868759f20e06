"""The book, the decision and the plan as text and as JSON, for `ammkeeper plan`. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict
from fractions import Fraction
from typing import Any

from bot.core.decision import Decision, Held, Rebalance
from bot.core.executor_ops import CARRY, Burn, Mint, Swap
from bot.core.planner import Plan
from bot.core.tax_ledger import view_quotes, view_rules
from bot.core.units import LP_DECIMALS, decimal_text, fmt, to_units
from bot.core.valuation import BookView
from bot.report.book_table import grid
from bot.report.tax_report import impact_json, impact_lines


def _pct(value: Fraction | None, places: int = 2) -> str:
    return "-" if value is None else f"{fmt(value * 100, places)}%"


def render_view(view: BookView) -> list[str]:
    """Sleeves (value, weight, target, drift, band, IL, fees, PnL vs hold), buckets and prices."""
    n = view.book.numeraire
    out = [f"book {view.book.name}: vault {view.snapshot.holder} at block {view.now.block}, in {n}", ""]
    # entry amounts are whole base units and LP shares round down: an IL, fee or PnL figure worth
    # less than two base units of each of the pair's tokens (and of the numeraire) is that
    # rounding, shown as 0
    unit = Fraction(1, 10 ** view.tokens[n].decimals)

    def noise(pair_address: str) -> Fraction:
        pair = view.snapshot.pair(pair_address)
        units = [
            view.prices[t.address].value / 10**t.decimals
            for t in (pair.token0, pair.token1)
            if t.address in view.prices
        ]
        return 2 * (unit + sum(units, Fraction(0)))

    rows = []
    for s in view.sleeves:
        p = s.position
        if p is not None and s.sleeve.pair is not None:
            limit = noise(view.book.pairs[s.sleeve.pair])

            def clean(value: Fraction, worth: Fraction, limit: Fraction = limit) -> Fraction:
                return Fraction(0) if abs(worth) < limit else value

            p = dataclasses.replace(
                p,
                il=clean(p.il, p.il_value),
                fee_income=clean(p.fee_income, p.fee_income),
                pnl_vs_hold=clean(p.pnl_vs_hold, p.pnl_vs_hold),
            )
        rows.append(
            [
                s.label + (f" [{s.sleeve.bucket}]" if s.sleeve.bucket else ""),
                fmt(s.value, 2),
                _pct(s.weight),
                _pct(s.target),
                _pct(s.drift),
                _pct(s.band),
                _pct(p.il if p else None),
                fmt(p.fee_income, 2) if p else "-",
                fmt(p.pnl_vs_hold, 2) if p else "-",
            ]
        )
    out += grid(["sleeve", n, "weight", "target", "drift", "band", "IL", "fees", "vs hold"], rows)
    for b in view.buckets:
        out.append(
            f"bucket {b.name} ({', '.join(b.members)}): weight {_pct(b.weight)}, target {_pct(b.target)}, "
            f"drift {_pct(b.drift)}, band {_pct(b.band)}"
        )
    out.append(f"total {fmt(view.total, 2)} {n}")
    if view.unsleeved:
        extra = ", ".join(f"{name} {fmt(v, 2)}" for name, v in view.unsleeved.items())
        out.append(f"held outside any sleeve (not in the total): {extra}")
    out += ["", "prices (provenance: route of pairs, block, spot or TWAP):"]
    names = view.book.pair_names
    for symbol, info in view.tokens.items():
        spot, twap = view.prices.get(info.address), view.twap.get(info.address)
        if spot is None or symbol == view.book.numeraire:
            continue
        route = " > ".join(names.get(a, a) for a in spot.route)
        twap_text = f"{fmt(twap.value, 6)} {twap.kind}" if twap else "-"
        out.append(f"  {symbol}: spot {fmt(spot.value, 6)} via {route} at {spot.block}; twap {twap_text}")
    return out + vault_guards_lines(view)


def vault_guards_lines(view: BookView) -> list[str]:
    """The vault's own guards and where each pair stands against them (nothing when they are off)."""
    g = view.vault
    if not (g.priced or g.cooldown_s or g.per_day):
        return []
    now = view.snapshot.block_timestamp
    parts = []
    if g.priced:
        parts.append(f"spot within {g.max_deviation_bps} bps of a TWAP over at least {g.window_s} s")
    if g.cooldown_s:
        parts.append(f"{g.cooldown_s} s between bundles")
    if g.per_day:
        today = g.bundles_on_day if g.day == now // 86_400 else 0
        parts.append(f"{g.per_day} bundles a day ({today} today)")
    out = ["", "the vault's own guards: " + ", ".join(parts)]
    names = {address: name for name, address in view.book.pairs.items()}
    for pair in view.pairs.values() if g.priced else ():
        name = names.get(pair.address, pair.name)
        if not g.ready(pair.address, now):
            out.append(f"  {name}: no observation {g.window_s} s old yet (the keeper pokes it)")
        else:
            out.append(
                f"  {name}: spot {g.deviation_bps(pair, now):,.1f} bps from the vault's TWAP since "
                f"{now - g.start_at(pair.address)} s ago"
            )
    return out


def _amounts(view: BookView, amounts: Mapping[str, int]) -> str:
    parts = []
    names = view.book.pair_names
    for address, amount in amounts.items():
        if address in names:
            parts.append(f"{fmt(to_units(amount, LP_DECIMALS), 8)} LP")
        else:
            info = view.snapshot.tokens[address]
            parts.append(f"{fmt(to_units(amount, info.decimals), 6)} {info.symbol}")
    return " + ".join(parts)


def render_plan(view: BookView, plan: Plan) -> list[str]:
    """Ops with predicted amounts and min-outs, weights before/after, and the cost breakdown."""
    n = view.book.numeraire
    out = [f"plan: {len(plan.ops)} ops in one execute (solved in {plan.passes} pass(es))"]
    for i, p in enumerate(plan.ops, 1):
        op = p.op
        pair = view.snapshot.pair(op.pair)
        if isinstance(op, Burn):
            mins = {pair.token0.address: op.min_amount0, pair.token1.address: op.min_amount1}
            floor = f"at least {_amounts(view, mins)}"
        elif isinstance(op, Swap):
            carries = op.amount_in & CARRY
            bought = (pair.token1 if op.zero_for_one else pair.token0).address
            floor = (
                "carries what earlier ops produced"
                if carries
                else f"at least {_amounts(view, {bought: op.min_out})}"
            )
        else:
            assert isinstance(op, Mint)
            floor = f"at least {_amounts(view, {op.pair: op.min_liquidity})}"
            if (op.amount0 | op.amount1) & CARRY:
                floor += "; carries what earlier ops produced"
        out.append(f"  {i}. {p.purpose}: {_amounts(view, p.spent)} -> {_amounts(view, p.received)} ({floor})")
    if plan.skipped:
        out.append(f"  skipped (under the deadband or minimum trade): {', '.join(plan.skipped)}")
    rows = [
        [
            label,
            _pct(plan.weights_before[label], 3),
            _pct(plan.targets[label], 3),
            _pct(plan.weights_after[label], 3),
        ]
        for label in plan.targets
    ]
    out += ["", *grid(["sleeve", "before", "target", "after"], rows)]
    dust = max(plan.dust.values(), default=0.0)
    unit = Fraction(1, 10 ** view.tokens[n].decimals)

    def money(value: Fraction) -> str:
        """A value in the numeraire; below one of its base units: 0 (it could not be paid)."""
        return "0" if abs(value) < unit else fmt(value, 6)

    c = plan.costs
    out += [
        "",
        f"costs in {n}: LP fees {fmt(c.lp_fees, 4)}, price impact {fmt(c.price_impact, 4)}, "
        f"back through own LP -{fmt(c.own_lp_rebate, 4)}, gas {c.gas_units:,} units = {money(c.gas)}"
        + (
            f", a poke first (the vault's TWAP guard) {c.upkeep_gas_units:,} units = {money(c.upkeep)}"
            if c.upkeep_gas_units
            else ""
        )
        + (f", tax on the gains it realizes {fmt(c.tax, 4)}" if c.tax else ""),
        f"total {fmt(c.total, 4)} {n}"
        + ("; without the tax " if c.tax else " = ")
        + f"{fmt(c.bps, 2)} bps of {fmt(c.traded_value, 2)} traded; "
        f"expected benefit {fmt(c.benefit, 4)}; largest mint dust {_pct(Fraction(dust), 6)} of its value",
        f"loss bound: the vault refuses to end the bundle more than {fmt(plan.loss_bound, 4)} {n} below "
        f"this prediction ({len(plan.floors)} floors checked on-chain, slippage_bps of the value traded)",
    ]
    return out


def render_status(view: BookView, decision: Decision) -> str:
    """`ammkeeper status --config`: the book and what the strategy would do now (no plan)."""
    verdict = "REBALANCE" if isinstance(decision, Rebalance) else "HOLD"
    return "\n".join([*render_view(view), "", f"decision: {verdict}: {decision.reason}"])


def render(view: BookView, decision: Decision) -> str:
    """The whole report of `ammkeeper plan`."""
    out = render_view(view)
    verdict = "REBALANCE" if isinstance(decision, Rebalance) else "HOLD"
    out += ["", f"decision: {verdict}: {decision.reason}"]
    if decision.plan is not None and decision.plan.ops:
        out += ["", *render_plan(view, decision.plan)]
    if decision.tax is not None:
        out += ["", *impact_lines(decision.tax, view_rules(view), view.book.numeraire)]
    return "\n".join(out)


def as_json(view: BookView, decision: Decision) -> dict[str, Any]:
    """The report as JSON-ready data (exact decimal strings; amounts in base units)."""
    plan = decision.plan

    def op_json(i: int) -> dict[str, Any]:
        assert plan is not None
        p = plan.ops[i]
        # big integers as strings: JSON readers with float numbers would round them
        fields = {
            k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in asdict(p.op).items()
        }
        return {
            "kind": type(p.op).__name__.lower(),
            "purpose": p.purpose,
            **fields,
            "spent": {a: str(v) for a, v in p.spent.items()},
            "received": {a: str(v) for a, v in p.received.items()},
        }

    g = view.vault
    names = {p.address: name for name, p in view.pairs.items()}
    out: dict[str, Any] = {
        "block": view.now.block,
        "timestamp": view.now.timestamp,
        "vault": view.snapshot.holder,
        "vault_guards": {
            "max_deviation_bps": g.max_deviation_bps,
            "window_s": g.window_s,
            "cooldown_s": g.cooldown_s,
            "max_bundles_per_day": g.per_day,
            "last_bundle_at": g.last_bundle_at,
            "twap_start_at": {a: g.start_at(a) for a in g.observations},
        },
        "numeraire": view.book.numeraire,
        # what the addresses below are: symbols and decimals (LP: the book's pair names, 18)
        "assets": {
            **{t.address: {"symbol": symbol, "decimals": t.decimals} for symbol, t in view.tokens.items()},
            **{
                p.address: {"symbol": f"{name} LP", "decimals": LP_DECIMALS} for name, p in view.pairs.items()
            },
        },
        "total": decimal_text(view.total),
        "sleeves": [
            {
                "label": s.label,
                "value": decimal_text(s.value),
                "weight": decimal_text(s.weight),
                "target": decimal_text(s.target),
                "drift": decimal_text(s.drift),
                "band": decimal_text(s.band),
                "il": decimal_text(s.position.il) if s.position else None,
                "fee_income": decimal_text(s.position.fee_income) if s.position else None,
                "pnl_vs_hold": decimal_text(s.position.pnl_vs_hold) if s.position else None,
            }
            for s in view.sleeves
        ],
        "prices": {
            symbol: {
                "spot": decimal_text(view.prices[i.address].value),
                "route": list(view.prices[i.address].route),
                "via": [names.get(a, a) for a in view.prices[i.address].route],
                "twap": decimal_text(view.twap[i.address].value),
                "twap_kind": view.twap[i.address].kind,
            }
            for symbol, i in view.tokens.items()
            if i.address in view.prices
        },
        # what the tax ledger prices this block's trades at, and what the vault held before them
        "quotes": {
            a: {"price": decimal_text(q.price), "source": q.source} for a, q in view_quotes(view).items()
        },
        "balances": {
            **{t.address: str(view.snapshot.balances.get(t.address, 0)) for t in view.tokens.values()},
            **{p.address: str(p.holder_lp) for p in view.pairs.values()},
        },
        "decision": "rebalance" if isinstance(decision, Rebalance) else "hold",
        "reason": decision.reason,
    }
    if view.book.tax is not None:
        out["tax_settings"] = view.book.tax.model_dump(mode="json")
    if decision.tax is not None:
        out["tax"] = impact_json(decision.tax, view_rules(view))
    if plan is not None:
        c = plan.costs
        out["plan"] = {
            "ops": [op_json(i) for i in range(len(plan.ops))],
            "weights_after": {k: decimal_text(v) for k, v in plan.weights_after.items()},
            "value_after": decimal_text(plan.value_after),
            "skipped": list(plan.skipped),
            "loss_bound": decimal_text(plan.loss_bound),
            "floors": {f.token: str(f.minimum) for f in plan.floors},
            "costs": {
                "lp_fees": decimal_text(c.lp_fees),
                "price_impact": decimal_text(c.price_impact),
                "own_lp_rebate": decimal_text(c.own_lp_rebate),
                "gas_units": c.gas_units,
                "gas_wei": c.gas_wei,
                "gas": decimal_text(c.gas),
                "upkeep_gas_units": c.upkeep_gas_units,
                "upkeep": decimal_text(c.upkeep),
                "tax": decimal_text(c.tax),
                "total": decimal_text(c.total),
                "bps": decimal_text(c.bps),
                "traded_value": decimal_text(c.traded_value),
                "benefit": decimal_text(c.benefit),
            },
        }
    return out


def intent_json(view: BookView, decision: Decision) -> dict[str, Any]:
    """What the journal keeps of a plan about to be executed: the report (ops with predicted
    amounts and min-outs, prices with provenance, weights, costs) and the predicted post-state."""
    plan = decision.plan
    assert plan is not None
    return {
        **as_json(view, decision),
        "predicted": {
            "balances": {a: str(v) for a, v in plan.balances.items()},
            "lp": {a: str(v) for a, v in plan.lp.items()},
            "pairs": {
                a: {
                    "reserve0": str(p.reserve0),
                    "reserve1": str(p.reserve1),
                    "total_supply": str(p.total_supply),
                    "k_last": str(p.k_last),
                }
                for a, p in plan.pairs.items()
            },
        },
    }


__all__ = ["Held", "Rebalance", "as_json", "render"]
