"""The manual rebalance (`ammkeeper rebalance`, `scripts/rebalance.py`, `ape run rebalance`).

Load the book and the keeper key, settle what the journal says was sent, plan, show, simulate
by eth_call, ask (unless --yes; --dry-run executes on a fork instead and stops), then send one
signed EIP-1559 transaction, wait for its receipt, and show realized next to predicted. Every
run leaves a record in the journal: a refused one only that record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from bot.chain import rpc
from bot.chain.vault import estimate_gas, simulate
from bot.core.book import Book
from bot.core.decision import Rebalance
from bot.core.errors import BadInput, KeeperError, Pending, RpcError
from bot.core.executor_ops import execute_calldata
from bot.core.outcome import Outcome, outcome_json, render_outcome
from bot.keeper import fork_run
from bot.keeper.planning import PlanResult, book_url, checked_keeper, head_timestamp, plan_on
from bot.report import plan_report
from bot.tx.execution import read_outcome
from bot.tx.journal import Journal, RunRecord, add_journal_option, journal_path
from bot.tx.keystore import DEFAULT_PASSWORD_ENV, load_account, read_password
from bot.tx.settle import Settled, settle
from bot.tx.submit import submit
from bot.tx.transactions import (
    block_hash,
    current_fees,
    native_balance,
    nonce_of,
    wait_for_receipt,
)

RECEIPT_TIMEOUT_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The rebalance options, shared by `ammkeeper rebalance` and `scripts/rebalance.py`."""
    parser.add_argument("--config", type=Path, required=True, help="the book file (TOML)")
    parser.add_argument(
        "--rpc", default=None, help="RPC URL (default: the book's rpc, or $AMMKEEPER_RPC_URL)"
    )
    parser.add_argument(
        "--keystore", type=Path, help="the keeper's v3 keystore (eth-account, geth, cast, ape)"
    )
    parser.add_argument(
        "--password-env",
        default=DEFAULT_PASSWORD_ENV,
        help=f"environment variable holding the keystore password (default ${DEFAULT_PASSWORD_ENV})",
    )
    parser.add_argument("--password-file", type=Path, help="file holding the keystore password")
    parser.add_argument("--yes", action="store_true", help="send without asking")
    parser.add_argument("--dry-run", action="store_true", help="execute on an anvil fork instead, and stop")
    parser.add_argument(
        "--receipt-timeout",
        type=float,
        default=RECEIPT_TIMEOUT_S,
        help=f"seconds to wait for the receipt (default {RECEIPT_TIMEOUT_S:g}); the journal keeps the rest",
    )
    add_journal_option(parser)


@dataclass(frozen=True, slots=True)
class Prepared:
    result: PlanResult
    chain_id: int
    notes: list[Settled]


async def prepare(
    url: str, book: Book, account: LocalAccount, journal: Journal, act: bool = True
) -> Prepared:
    async with rpc.connect(url) as w3:
        chain_id = await checked_keeper(w3, book, account)
        now = await head_timestamp(w3)
        notes = await settle(
            w3, journal, chain_id, book.vault, account.address, now, book.fees.confirmations, act=act
        )
        result = await plan_on(w3, book, "latest", check=True)
    return Prepared(result, chain_id, notes)


async def send(url: str, book: Book, account: LocalAccount, journal: Journal, record: RunRecord,
               prepared: Prepared, receipt_timeout_s: float = RECEIPT_TIMEOUT_S) -> Outcome:  # fmt: skip
    """Re-check at the head, journal the intent, sign, journal the raw bytes, broadcast, wait, reconcile."""
    result = prepared.result
    plan = result.decision.plan
    assert plan is not None and result.deadline is not None
    keeper = account.address
    async with rpc.connect(url) as w3:
        # the chain may have moved while the plan was read: settle again, and re-simulate at the head
        now = await head_timestamp(w3)
        await settle(w3, journal, prepared.chain_id, book.vault, keeper, now, book.fees.confirmations)
        if await head_timestamp(w3) >= result.deadline:
            raise KeeperError("the plan's deadline passed before it was sent; nothing sent: plan again")
        addresses = [*plan.balances, *plan.lp]
        at_head = await simulate(
            w3, book.vault, keeper, plan.executor_ops, result.deadline, addresses, "latest"
        )
        if at_head != {**plan.balances, **plan.lp}:
            raise KeeperError(
                f"the chain moved since block {result.view.snapshot.block_number} and the bundle would "
                "no longer do what was shown; nothing sent: plan again"
            )
        bundle_id = os.urandom(32)
        calldata = execute_calldata(plan.executor_ops, result.deadline, bundle_id)
        fees = await current_fees(w3, book.fees)
        estimate = await estimate_gas(w3, book.vault, keeper, plan.executor_ops, result.deadline, bundle_id)
        gas_limit = estimate * (10_000 + book.fees.gas_margin_bps) // 10_000
        balance = await native_balance(w3, keeper)
        if balance < gas_limit * fees.max_fee:
            raise KeeperError(
                f"the keeper {keeper} holds {balance / 1e18:.6f} native; the transaction may cost up to "
                f"{gas_limit * fees.max_fee / 1e18:.6f}; nothing sent"
            )
        # the mined nonce, and nothing pending on it: two runs racing sign the same nonce, and at
        # most one of their transactions can ever be mined
        nonce = await nonce_of(w3, keeper, "latest")
        if await nonce_of(w3, keeper, "pending") != nonce:
            raise Pending(
                f"the keeper {keeper} has a transaction pending since this run checked; nothing sent"
            )
        block = result.view.snapshot.block_number
        try:
            sent = await submit(
                journal, record.id, account, w3, w3, chain_id=prepared.chain_id, vault=book.vault,
                deadline=result.deadline, plan_json=plan_report.intent_json(result.view, result.decision),
                bundle_id=bundle_id, calldata=calldata, block=block,
                block_hash=await block_hash(w3, block), nonce=nonce, gas_limit=gas_limit, fees=fees,
            )  # fmt: skip
        except RpcError as exc:
            raise KeeperError(
                f"the broadcast may not have reached the node ({exc}); its raw bytes are in the journal: "
                "the next run settles it"
            ) from None
        signed, intent = sent.signed, sent.intent
        try:
            mined = await wait_for_receipt(w3, signed.tx_hash, book.fees.confirmations, receipt_timeout_s)
            outcome = await read_outcome(w3, book, result.view, plan, mined, keeper, calldata)
        except RpcError as exc:
            raise KeeperError(
                f"{signed.tx_hash} was sent; following it failed: {exc}. The next run settles it"
            ) from None
        journal.add_outcome(intent, outcome.receipt, matches=outcome.matches, realized=outcome_json(outcome))
    return outcome


def _confirmed(ask: Callable[[str], str]) -> bool:
    try:
        answer = ask("send this rebalance? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def rebalance(args: argparse.Namespace, out: Callable[[str], None], ask: Callable[[str], str]) -> int:
    """The whole manual rebalance; the exit code (0: executed as predicted, or nothing to do)."""
    journal = Journal.open(journal_path(args.journal, args.config))
    with journal, journal.exclusive(), journal.recording("rebalance", args.config) as record:
        book = Book.load(args.config)
        url = book_url(args.rpc, book)
        if args.keystore is None:
            raise BadInput("no key: pass --keystore FILE (a v3 keystore of the vault's keeper)")
        account = load_account(args.keystore, read_password(args.password_env, args.password_file))
        journal.describe_run(record.id, endpoint=rpc.endpoint_label(url), keeper=account.address)
        prepared = asyncio.run(prepare(url, book, account, journal, act=not args.dry_run))
        journal.describe_run(record.id, chain_id=prepared.chain_id)
        result = prepared.result
        for note in prepared.notes:
            out(f"journal: {note}")
        out(plan_report.render(result.view, result.decision))
        if (
            not isinstance(result.decision, Rebalance)
            or result.decision.plan is None
            or not result.decision.plan.ops
        ):
            record.status, record.message = "held", result.decision.reason
            return 0
        out(result.simulation_text())
        if not result.simulation_matches:
            raise KeeperError("the eth_call simulation differs from the prediction; nothing sent")
        if args.dry_run:
            run = fork_run.run_on_fork(book, url, result.view.snapshot.block_number, out, journal, record)
            lines, code = fork_run.execution_report(run)  # the plan is shown above
            out("\n".join(lines))
            record.status = "dry-run matched" if code == 0 else "dry-run differs"
            return code
        if not args.yes and not _confirmed(ask):
            record.status, record.message = "declined", "not confirmed: nothing sent"
            out("not confirmed: nothing sent")
            return 1
        outcome = asyncio.run(send(url, book, account, journal, record, prepared, args.receipt_timeout))
        out("")
        out("\n".join(render_outcome(outcome)))
        record.status = "executed" if outcome.receipt.success else "reverted"
        record.message = "; ".join(outcome.mismatches()) or "realized equals predicted"
        return 0 if outcome.receipt.success and outcome.matches else 1
