"""`ammkeeper dry-run`: the planned bundle executed on an anvil fork, predicted against realized.

The fork is anvil `--fork-url` of the book's RPC (or any URL) at its head or a given block.
The plan is made on the fork, then sent there as the vault's keeper (impersonated: no key
is needed), mined, and its receipt and the book after it are compared with the prediction.
The fork process is stopped on every way out, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3

from anvil.node import AnvilNode
from bot.chain import endpoints, rpc
from bot.chain.vault import BundleReverted, estimate_gas
from bot.core.book import Book
from bot.core.errors import BadInput, NodeError
from bot.core.executor_ops import execute_calldata
from bot.core.outcome import Outcome, outcome_json, render_outcome
from bot.keeper import pipeline
from bot.keeper.planning import PlanResult, checked_chain, plan_on
from bot.report import plan_report, tax_report
from bot.tx.execution import read_outcome
from bot.tx.journal import Journal, RunRecord
from bot.tx.tax_journal import with_tax
from bot.tx.transactions import block_hash, current_fees, head, wait_for_receipt

REVERT_GAS_FLOOR = 1_000_000  # gas for a bundle that reverts in estimation: sent anyway, to see it revert


@dataclass(frozen=True, slots=True)
class ForkRun:
    """What the fork did. `verdict`: what the send pipeline's checks (guards, fee cap, simulation
    at the head, gas) said of the bundle before it was executed anyway, to be seen."""

    result: PlanResult
    outcome: Outcome | None
    fork_block: int
    verdict: str | None = None
    taxed: tuple[str, ...] = ()  # what the outcome's tax record says (journaled runs of a book with [tax])


async def chain_head(url: str) -> int:
    """The head of the chain at `url` (RpcError when nothing usable answers there)."""
    async with rpc.connect(url) as w3:
        return await head(w3)


async def execute_as_keeper(
    w3: AsyncWeb3[Any], book: Book, result: PlanResult
) -> tuple[Outcome, bytes, bytes]:
    """Send the plan's bundle from the impersonated keeper on a fork; (outcome, bundle id, calldata)."""
    plan = result.decision.plan
    assert plan is not None and result.keeper is not None and result.deadline is not None
    await rpc.result(w3, "anvil_impersonateAccount", [result.keeper])
    bundle_id = os.urandom(32)
    calldata = execute_calldata(plan.executor_ops, result.deadline, bundle_id)
    fees = await current_fees(w3, book.fees)
    try:
        estimate = await estimate_gas(
            w3, book.vault, result.keeper, plan.executor_ops, result.deadline, bundle_id
        )
        gas_limit = estimate * (10_000 + book.fees.gas_margin_bps) // 10_000
    except BundleReverted:
        gas_limit = max(2 * plan.costs.gas_units, REVERT_GAS_FLOOR)  # mine it: the receipt shows the revert
    tx = {
        "from": result.keeper,
        "to": book.vault,
        "data": "0x" + calldata.hex(),
        "gas": hex(gas_limit),
        "maxFeePerGas": hex(fees.max_fee),
        "maxPriorityFeePerGas": hex(fees.tip),
    }
    tx_hash = str(await rpc.result(w3, "eth_sendTransaction", [tx]))
    receipt = await wait_for_receipt(w3, tx_hash, confirmations=1, timeout_s=60.0, poll_s=0.05)
    outcome = await read_outcome(w3, book, result.view, plan, receipt, result.keeper, calldata)
    return outcome, bundle_id, calldata


async def _on_fork(url: str, book: Book, journal: Journal | None, record: RunRecord | None) -> ForkRun:
    async with rpc.connect(url) as w3:
        await checked_chain(w3, book)  # the fork serves the source's chain and vault
        result = await plan_on(w3, book, "latest", check=False, journal=journal)
        block = result.view.snapshot.block_number
        plan = result.decision.plan
        if plan is None or not plan.ops:
            return ForkRun(result, None, block)
        verdict = await _verdict(w3, book, result, journal)
        outcome, bundle_id, calldata = await execute_as_keeper(w3, book, result)
        if journal is not None and record is not None:
            assert result.keeper is not None and result.deadline is not None
            plan_json = plan_report.intent_json(result.view, result.decision)
            intent = journal.add_intent(
                record.id, fork=True, chain_id=result.view.snapshot.chain_id, vault=book.vault,
                keeper=result.keeper, block=block, block_hash=await block_hash(w3, block),
                bundle_id="0x" + bundle_id.hex(), deadline=result.deadline, calldata="0x" + calldata.hex(),
                plan=plan_json,
            )  # fmt: skip
            realized = with_tax(journal, result.view.snapshot.chain_id, book.vault, intent, plan_json,
                                outcome_json(outcome))  # fmt: skip
            journal.add_outcome(intent, outcome.receipt, matches=outcome.matches, realized=realized)
            taxed = tax_report.realized_lines(realized.get("tax"), plan_json.get("tax"), book.numeraire)
            return ForkRun(result, outcome, block, verdict, tuple(taxed))
        return ForkRun(result, outcome, block, verdict)


async def _verdict(w3: AsyncWeb3[Any], book: Book, result: PlanResult, journal: Journal | None) -> str:
    """The send pipeline's checks on the fork, as one line: would the keeper send this bundle?"""
    assert result.keeper is not None
    chain_id, _ = await checked_chain(w3, book)
    sender = pipeline.Sender(
        book=book, keeper=result.keeper, chain_id=chain_id, reader=w3, sender=w3, journal=journal
    )
    try:
        ready = await pipeline.check(sender, result, block=result.view.snapshot.block_number)
    except (pipeline.Refused, pipeline.PlanWrong, pipeline.ChainMoved, BundleReverted) as exc:
        return f"the keeper would not send it: {exc}"
    gas = f"gas limit {ready.gas_limit:,}, fee cap {ready.fees.max_fee:,} wei"
    return f"every check of the send pipeline passes ({gas})"


def run_on_fork(
    book: Book,
    source_url: str,
    block: int | None,
    out: Callable[[str], None],
    journal: Journal | None = None,
    record: RunRecord | None = None,
) -> ForkRun:
    """Start the fork, plan and execute there, stop the fork whatever happens.

    Raises:
        RpcError: nothing usable answers at `source_url` (bad input: checked before forking).
        NodeError: the fork cannot start.
    """
    source_head = asyncio.run(chain_head(source_url))
    if block is not None and not 0 <= block <= source_head:
        raise BadInput(
            f"block {block} is not in 0..{source_head}, the chain of {endpoints.endpoint_label(source_url)}"
        )
    try:
        node = AnvilNode.start(fork_url=source_url, fork_block=block)
    except NodeError as exc:
        # anvil's own log names the URL it forks, API key included
        raise NodeError(f"the fork cannot start: {endpoints.redact(str(exc), source_url)}") from None
    try:
        forked = asyncio.run(chain_head(node.url))
        out(
            f"fork: anvil pid {node.process.pid} at {node.url}, forked from "
            f"{endpoints.endpoint_label(source_url)} at block {forked}"
        )
        return asyncio.run(_on_fork(node.url, book, journal, record))
    finally:
        node.stop()


def execution_report(run: ForkRun) -> tuple[list[str], int]:
    """What happened on the fork (after a plan already shown) and the exit code (0: nothing to
    do, or realized equals predicted)."""
    if run.outcome is None:
        return ["nothing to execute on the fork"], 0
    checks = [f"checks: {run.verdict}"] if run.verdict else []
    executed = [*render_outcome(run.outcome), *run.taxed]
    return [*checks, "--- executed on the fork as the keeper ---", *executed], (
        0 if run.outcome.matches else 1
    )


def report(run: ForkRun) -> tuple[list[str], int]:
    """The dry-run's whole report: the book, decision and plan, then the execution on the fork."""
    lines, code = execution_report(run)
    return [*plan_report.render(run.result.view, run.result.decision).split("\n"), "", *lines], code


def report_json(run: ForkRun) -> dict[str, Any]:
    """The dry-run as one JSON object: the book, decision and plan (as `plan --json`), the send
    pipeline's checks, and what the fork did against the prediction."""
    out: dict[str, Any] = {
        "fork_block": run.fork_block,
        **plan_report.as_json(run.result.view, run.result.decision),
    }
    out["checks"] = run.verdict
    out["executed"] = None if run.outcome is None else outcome_json(run.outcome)
    out["matches"] = None if run.outcome is None else run.outcome.matches
    return out
