"""`ammkeeper journal`: the journal's records as text (the JSON form is the records themselves)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from bot.report.book_table import grid


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


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
            f"block {intent['block']}, bundle {intent['bundle_id'][:18]}…, deadline {intent['deadline']}",
            f"  decision: {plan.get('decision')}: {plan.get('reason')}",
        ]
        for i, op in enumerate(plan.get("plan", {}).get("ops", []), 1):
            out.append(
                f"  op {i}: {op['kind']} {op['purpose']}: spent {op['spent']} received {op['received']}"
            )
        costs = plan.get("plan", {}).get("costs", {})
        if costs:
            out.append(
                f"  predicted costs: total {costs['total']} ({costs['bps']} bps), gas {costs['gas_units']}"
            )
        for a in intent["attempts"]:
            out.append(
                f"  attempt {a['id']}: nonce {a['nonce']} {a['tx_hash']} {a['status']}, "
                f"max fee {a['max_fee']} tip {a['tip']} gas limit {a['gas_limit']}"
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
                f"{'succeeded' if outcome['success'] else 'reverted'}, gas used {outcome['gas_used']}, "
                f"fee {outcome['fee_wei']} wei: {verdict}"
            )
            for line in realized.get("mismatches", []):
                out.append(f"    {line}")
        if intent.get("note"):
            out.append(f"  note: {intent['note']}")
    return "\n".join(out)
