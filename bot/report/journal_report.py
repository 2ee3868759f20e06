"""`ammkeeper journal`: the journal's records as text (the JSON form is the records themselves)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bot.core.units import amount_text, fmt
from bot.report.book_table import grid


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _gwei(wei: int | str) -> str:
    return f"{int(wei) / 1e9:,.3f} gwei"


def _native(wei: int | str) -> str:
    return amount_text(int(wei), 18)


def _amounts(amounts: Mapping[str, str], assets: Mapping[str, Mapping[str, Any]]) -> str:
    """Amounts by address as token units and symbols (journals from before `assets`: raw)."""
    parts = []
    for address, raw in amounts.items():
        asset = assets.get(address)
        if asset is None:
            parts.append(f"{raw} of {address}")
        else:
            parts.append(f"{amount_text(int(raw), int(asset['decimals']))} {asset['symbol']}")
    return " + ".join(parts) or "nothing"


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def render_runs(runs: Sequence[Mapping[str, Any]]) -> str:
    """One row per run, newest first: kind, status, intents with their transactions."""
    if not runs:
        return "the journal is empty"
    rows = []
    for run in runs:
        intents = ", ".join(
            f"#{i['id']} {i['status']}{' (fork)' if i['fork'] else ''}"
            + (f" {i['tx_hashes'][-1][:12]}…" if i["tx_hashes"] else "")
            for i in run["intents"]
        )
        rows.append(
            [
                str(run["id"]),
                _when(run["started_at"]),
                run["kind"],
                run["status"],
                intents or "-",
                _short(run["message"]),
            ]
        )
    return "\n".join(grid(["run", "started (UTC)", "kind", "status", "intents", "message"], rows))


def render_run(record: Mapping[str, Any]) -> str:
    """One run in full: what it talked to, each intent with its plan, attempts and outcome."""
    out = [
        f"run {record['id']}: {record['kind']}, {record['status']}",
        f"  started {_when(record['started_at'])}, ended {_when(record['ended_at'])} (UTC)",
        f"  book {record['book']} (sha256 {str(record['book_sha256'])[:16]}…)",
    ]
    if record["endpoint"]:
        out.append(
            f"  endpoint {record['endpoint']}, chain {record['chain_id']}, keeper {record['keeper'] or '-'}"
        )
    if record["message"]:
        out.append(f"  message: {record['message']}")
    for intent in record["intents"]:
        plan = intent["plan"]
        out += [
            "",
            f"intent #{intent['id']}: {intent['status']}{' on a fork' if intent['fork'] else ''}, "
            f"block {intent['block']}, bundle {intent['bundle_id'][:18]}…, "
            f"deadline {_when(intent['deadline'])} UTC",
            f"  decision: {plan.get('decision')}: {plan.get('reason')}",
        ]
        assets = plan.get("assets", {})
        for i, op in enumerate(plan.get("plan", {}).get("ops", []), 1):
            spent, received = _amounts(op["spent"], assets), _amounts(op["received"], assets)
            out.append(f"  op {i}: {op['purpose']}: {spent} -> {received}")
        costs = plan.get("plan", {}).get("costs", {})
        if costs:
            out.append(
                f"  predicted costs: total {fmt(Decimal(costs['total']), 4)} {plan.get('numeraire', '')} "
                f"({fmt(Decimal(costs['bps']), 2)} bps), gas {int(costs['gas_units']):,} units"
            )
        for a in intent["attempts"]:
            out.append(
                f"  attempt {a['id']}: nonce {a['nonce']} {a['tx_hash']} {a['status']}, "
                f"max fee {_gwei(a['max_fee'])}, tip {_gwei(a['tip'])}, gas limit {int(a['gas_limit']):,}"
                + (f" ({a['error']})" if a["error"] else "")
            )
        outcome = intent.get("outcome")
        if outcome:
            realized = outcome["realized"]
            verdict = {1: "realized equals predicted", 0: "realized DIFFERS", None: "not compared"}[
                outcome["matches"]
            ]
            out.append(
                f"  outcome: {outcome['tx_hash']} block {outcome['block']}, "
                f"{'succeeded' if outcome['success'] else 'reverted'}, "
                f"gas used {int(outcome['gas_used']):,}, fee {_native(outcome['fee_wei'])} native: {verdict}"
            )
            for line in realized.get("mismatches", []):
                out.append(f"    {line}")
        if intent.get("note"):
            out.append(f"  note: {intent['note']}")
    return "\n".join(out)
