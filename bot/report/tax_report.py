"""Taxes as text, JSON and the files an accountant takes: Form 8949 rows, a Koinly universal CSV
and an audit log of every rebalance. Values are exact in JSON (decimal text) and rounded to
cents, half to even, in the CSV files and tables."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from bot.core.book import Moment
from bot.core.tax_ledger import Applied, Bundle, Gains, TaxRules, Transfer, gains
from bot.core.tax_lots import Disposal, Lot, term_of
from bot.core.tax_plan import TaxImpact
from bot.core.units import amount_text, decimal_text, fmt
from bot.report.book_table import grid

FORM_8949 = ["Description of property", "Date acquired", "Date sold or disposed of", "Proceeds",
             "Cost or other basis", "Gain or (loss)", "Term", "Lot", "Event"]  # fmt: skip
KOINLY = ["Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
          "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Label",
          "Description", "TxHash"]  # fmt: skip


def cents(value: Fraction) -> str:
    """A value rounded to cents, half to even, without separators (CSV)."""
    scaled = round(value * 100)  # Fraction rounds half to even
    sign = "-" if scaled < 0 else ""
    return f"{sign}{abs(scaled) // 100}.{abs(scaled) % 100:02d}"


def day(at: Moment) -> str:
    return datetime.datetime.fromtimestamp(at.timestamp, datetime.UTC).strftime("%m/%d/%Y")


def when(at: Moment) -> str:
    return datetime.datetime.fromtimestamp(at.timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def units(rules: TaxRules, asset: str, amount: int) -> str:
    info = rules.assets.get(asset)
    return amount_text(amount, info.decimals if info else 18)


def gains_json(g: Gains) -> dict[str, str | None]:
    return {"short": decimal_text(g.short), "long": decimal_text(g.long), "total": decimal_text(g.total)}


def disposals_json(disposals: Iterable[Disposal], rules: TaxRules) -> list[dict[str, Any]]:
    return [
        {
            "asset": d.asset,
            "label": rules.label(d.asset),
            "lot": d.lot_id,
            "amount": str(d.amount),
            "units": units(rules, d.asset, d.amount),
            "acquired": {"block": d.acquired.block, "timestamp": d.acquired.timestamp},
            "sold": {"block": d.sold.block, "timestamp": d.sold.timestamp},
            "proceeds": decimal_text(d.proceeds),
            "basis": decimal_text(d.basis),
            "gain": decimal_text(d.gain),
            "term": d.term,
            "event": d.event,
        }
        for d in disposals
    ]


def impact_json(impact: TaxImpact, rules: TaxRules) -> dict[str, Any]:
    short, long = impact.left
    return {
        "gains": gains_json(impact.gains),
        "tax": decimal_text(impact.cost),
        "share": decimal_text(impact.share),
        "note": impact.note,
        "budget_left_after": {
            "short": None if short is None else decimal_text(short - impact.gains.short),
            "long": None if long is None else decimal_text(long - impact.gains.long),
        },
        "disposals": disposals_json(impact.disposals, rules),
    }


def impact_lines(impact: TaxImpact, rules: TaxRules, numeraire: str) -> list[str]:
    """What the plan's sales realize, lot by lot, and the budget it leaves."""
    lines = [f"tax ({rules.tax.method}, LP as {rules.tax.lp}):"]
    for d in impact.disposals:
        lines.append(
            f"  sell {units(rules, d.asset, d.amount)} {rules.label(d.asset)} from {d.lot_id} "
            f"(acquired {when(d.acquired)[:10]}): proceeds {fmt(d.proceeds, 2)}, basis {fmt(d.basis, 2)}, "
            f"gain {fmt(d.gain, 2)} {numeraire}, {d.term} term"
        )
    if not impact.disposals:
        lines.append("  no sale")
    g = impact.gains
    lines.append(
        f"  realized: {fmt(g.short, 2)} short-term, {fmt(g.long, 2)} long-term {numeraire}; "
        f"tax {fmt(impact.cost, 2)} {numeraire}"
    )
    for term, left in zip(("short", "long"), impact.left, strict=True):
        if left is not None:
            lines.append(f"  {term}-term budget left after: {fmt(left - g.of(term), 2)} {numeraire}")  # type: ignore[arg-type]
    if impact.note:
        lines.append(f"  {impact.note}")
    return lines


def form_8949(disposals: Sequence[Disposal], rules: TaxRules) -> str:
    """Every sale as a row of Form 8949: short-term (Part I) first, then long-term (Part II)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FORM_8949)
    for d in sorted(disposals, key=lambda d: (d.term != "short", d.sold.timestamp, d.lot_id)):
        writer.writerow([
            f"{units(rules, d.asset, d.amount)} {rules.label(d.asset)}", day(d.acquired), day(d.sold),
            cents(d.proceeds), cents(d.basis), cents(d.gain), d.term.capitalize(), d.lot_id, d.event,
        ])  # fmt: skip
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class BundleFacts:
    """What the journal says of a bundle beyond the ledger: its gas fee and its vault balances."""

    fee_wei: int
    native: str  # the gas token's symbol
    balances_before: Mapping[str, int]


def koinly(
    applied: Iterable[Applied], rules: TaxRules, numeraire: str, facts: Mapping[int, BundleFacts]
) -> str:
    """Koinly's universal CSV: deposits, withdrawals and every op of every bundle as a trade (the
    bundle's gas fee on its first op), valued in the numeraire at the plan's prices."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KOINLY)
    for done in applied:
        e = done.event
        if isinstance(e, Transfer):
            amount = units(rules, e.asset, e.amount)
            worth = cents(rules.value(e.asset, e.amount, e.quote.price))
            sent, got = (("", ""), (amount, rules.label(e.asset))) if e.kind == "deposit" else (
                (amount, rules.label(e.asset)), ("", ""))  # fmt: skip
            writer.writerow([when(e.at)[:16] + " UTC", *sent, *got, "", "", worth, numeraire, "",
                             f"vault {e.kind}", e.tx_hash])  # fmt: skip
            continue
        assert isinstance(e, Bundle)
        fact = facts.get(e.intent_id)
        for i, op in enumerate(e.ops):
            spent = [(a, n) for a, n in op.spent.items() if n > 0]
            received = [(a, n) for a, n in op.received.items() if n > 0]
            for i_leg, (s, r) in enumerate(_legs(spent, received, rules, e)):
                fee = fact is not None and i == 0 and i_leg == 0
                value = rules.value(r[0], r[1], e.quotes[r[0]].price)
                writer.writerow([
                    when(e.at)[:16] + " UTC",
                    units(rules, s[0], s[1]), rules.label(s[0]),
                    units(rules, r[0], r[1]), rules.label(r[0]),
                    amount_text(fact.fee_wei, 18) if fee and fact else "",
                    fact.native if fee and fact else "",
                    cents(value), numeraire, "", f"{e.ref}: {op.kind}", e.tx_hash,
                ])  # fmt: skip
    return out.getvalue()


Leg = tuple[str, int]


def _legs(spent: list[Leg], received: list[Leg], rules: TaxRules, e: Bundle) -> list[tuple[Leg, Leg]]:
    """Koinly takes one currency a side: an op with two on one side (a mint spends two tokens, a
    burn receives two) is a row per leg, the single side split between them by the legs' values
    (in base units, the last row taking the rounding)."""
    if len(spent) == 1 and len(received) == 1:
        return [(spent[0], received[0])]
    many, (one_asset, one_amount) = (spent, received[0]) if len(received) == 1 else (received, spent[0])
    values = [rules.value(a, n, e.quotes[a].price) for a, n in many]
    whole = sum(values, Fraction(0))
    parts = [int(one_amount * v / whole) if whole else one_amount // len(many) for v in values]
    parts[-1] += one_amount - sum(parts)
    single = [(one_asset, p) for p in parts]
    return (
        list(zip(many, single, strict=True)) if len(received) == 1 else list(zip(single, many, strict=True))
    )


def audit(
    applied: Iterable[Applied], rules: TaxRules, facts: Mapping[int, BundleFacts]
) -> list[dict[str, Any]]:
    """One record per rebalance: balances and value before and after (at the plan's prices), the
    trades, their tax impact, where each price came from, and the transaction."""
    records = []
    for done in applied:
        e = done.event
        if not isinstance(e, Bundle):
            continue
        fact = facts.get(e.intent_id)
        before = dict(fact.balances_before) if fact else {}
        after = dict(before)
        for op in e.ops:
            for a, n in op.spent.items():
                after[a] = after.get(a, 0) - n
            for a, n in op.received.items():
                after[a] = after.get(a, 0) + n

        def worth(balances: Mapping[str, int], quotes: Mapping[str, Any] = e.quotes) -> str | None:
            return decimal_text(sum(
                (rules.value(a, n, quotes[a].price) for a, n in balances.items() if a in quotes), Fraction(0)
            ))  # fmt: skip

        records.append({
            "bundle": e.intent_id,
            "tx_hash": e.tx_hash,
            "mined_in_block": e.block,
            "priced_at": {"block": e.at.block, "time": when(e.at)},
            "balances_before": {rules.label(a): units(rules, a, n) for a, n in before.items()},
            "balances_after": {rules.label(a): units(rules, a, n) for a, n in after.items()},
            "value_before": worth(before),
            "value_after": worth(after),
            "gas_fee_wei": str(fact.fee_wei) if fact else None,
            "trades": [
                {
                    "op": op.kind,
                    "spent": {rules.label(a): units(rules, a, n) for a, n in op.spent.items() if n},
                    "received": {rules.label(a): units(rules, a, n) for a, n in op.received.items() if n},
                }
                for op in e.ops
            ],
            "prices": {
                rules.label(a): {"price": decimal_text(q.price), "source": q.source}
                for a, q in e.quotes.items()
            },
            "tax": {
                "gains": gains_json(gains(done.disposals)),
                "disposals": disposals_json(done.disposals, rules),
                "lots_opened": [lot.lot_id for lot in done.opened],
            },
        })  # fmt: skip
    return records


def summary_lines(disposals: Sequence[Disposal], year: int, numeraire: str) -> list[str]:
    g = gains(disposals)
    proceeds = sum((d.proceeds for d in disposals), Fraction(0))
    basis = sum((d.basis for d in disposals), Fraction(0))
    return [
        f"{year}: {len(disposals)} disposals, proceeds {fmt(proceeds, 2)}, basis {fmt(basis, 2)} {numeraire}",
        f"  short-term gain {fmt(g.short, 2)}, long-term gain {fmt(g.long, 2)}, "
        f"net {fmt(g.total, 2)} {numeraire}",
    ]


def lots_table(lots: Sequence[Lot], rules: TaxRules, prices: Mapping[str, Fraction], now: Moment) -> str:
    """Open lots with their unrealized gain at `prices` and their term if sold `now`."""
    rows = []
    for lot in lots:
        price = prices.get(lot.asset)
        value = None if price is None else rules.value(lot.asset, lot.amount, price)
        rows.append([
            lot.lot_id, units(rules, lot.asset, lot.amount), when(lot.acquired)[:10], fmt(lot.cost, 2),
            fmt(value, 2), fmt(None if value is None else value - lot.cost, 2),
            term_of(lot.acquired, now, rules.tax.long_term_days), lot.source,
        ])  # fmt: skip
    head = ["lot", "amount", "acquired", "basis", "value", "unrealized", "term now", "source"]
    return "\n".join(grid(head, rows)) if rows else "no open lots"


def year_json(disposals: Sequence[Disposal], year: int, rules: TaxRules, numeraire: str) -> dict[str, Any]:
    """A year's realized gains as JSON: totals (exact) and every disposal."""
    return {
        "year": year,
        "numeraire": numeraire,
        "settings": rules.tax.model_dump(mode="json"),
        "proceeds": decimal_text(sum((d.proceeds for d in disposals), Fraction(0))),
        "basis": decimal_text(sum((d.basis for d in disposals), Fraction(0))),
        "gains": gains_json(gains(disposals)),
        "disposals": disposals_json(disposals, rules),
    }


def disposals_table(disposals: Sequence[Disposal], rules: TaxRules) -> str:
    rows = [
        [
            f"{units(rules, d.asset, d.amount)} {rules.label(d.asset)}", d.lot_id, when(d.acquired)[:10],
            when(d.sold)[:10], fmt(d.proceeds, 2), fmt(d.basis, 2), fmt(d.gain, 2), d.term,
        ]
        for d in disposals
    ]  # fmt: skip
    return "\n".join(grid(["sold", "lot", "acquired", "on", "proceeds", "basis", "gain", "term"], rows))


def lots_json(
    lots: Sequence[Lot], rules: TaxRules, prices: Mapping[str, Fraction], now: Moment
) -> dict[str, Any]:
    out = []
    for lot in lots:
        price = prices.get(lot.asset)
        value = None if price is None else rules.value(lot.asset, lot.amount, price)
        out.append({
            "lot": lot.lot_id,
            "asset": lot.asset,
            "label": rules.label(lot.asset),
            "amount": str(lot.amount),
            "units": units(rules, lot.asset, lot.amount),
            "acquired": {"block": lot.acquired.block, "timestamp": lot.acquired.timestamp},
            "basis": decimal_text(lot.cost),
            "value": decimal_text(value),
            "unrealized": decimal_text(None if value is None else value - lot.cost),
            "term_now": term_of(lot.acquired, now, rules.tax.long_term_days),
            "source": lot.source,
        })  # fmt: skip
    return {"block": now.block, "method": rules.tax.method, "lots": out}


def realized_lines(
    realized: Mapping[str, Any] | None, predicted: Mapping[str, Any] | None, numeraire: str
) -> list[str]:
    """The realized gains an outcome recorded, against the plan's prediction (nothing without `[tax]`)."""
    if realized is None:
        return []
    if "error" in realized:
        return [f"tax: {realized['error']}"]
    g = realized["gains"]
    same = predicted is not None and predicted.get("gains") == g
    return [
        f"tax: realized {fmt(Fraction(Decimal(g['short'])), 2)} short-term and "
        f"{fmt(Fraction(Decimal(g['long'])), 2)} long-term {numeraire} of gains in "
        f"{len(realized['disposals'])} lot sale(s)" + (", as predicted" if same else ", NOT as predicted")
    ]
