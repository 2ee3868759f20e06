"""The manual rebalance (`ammkeeper rebalance`, `scripts/rebalance.py`, `ape run rebalance`).

Load the book and the keeper key, check the chain and that the key is the vault's keeper, settle
what the journal says was sent, plan, show, simulate by eth_call, ask (unless --yes; --dry-run
executes on a fork instead and stops), then send through the one send pipeline (every guard of
the keeper, the kill switch, simulation at the head, the nonce rule; `--override GUARD` passes
over a named guard, journaled), wait for the receipt, and show realized next to predicted.
Every run leaves a record in the journal: a refused one only that record.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from eth_account.signers.local import LocalAccount

from bot.chain import endpoints, rpc
from bot.chain.block_clock import block_timestamp
from bot.chain.vault import vault_paused
from bot.cli import options
from bot.core import presets
from bot.core.book import Book
from bot.core.decision import Rebalance
from bot.core.errors import BadInput, KeeperError, Pending, RpcError
from bot.core.fees import Fees
from bot.core.guards import Refusal
from bot.core.outcome import Outcome, outcome_json, render_outcome
from bot.core.units import fmt
from bot.keeper import fork_run, pipeline
from bot.keeper.planning import PlanResult, checked_keeper, plan_on
from bot.ops.kill_switch import pause_path
from bot.report import plan_report, tax_report
from bot.tx.execution import read_outcome
from bot.tx.journal import Journal, RunRecord, journal_path
from bot.tx.settle import Settled, settle
from bot.tx.tax_journal import with_tax
from bot.tx.transactions import GasTooExpensive, block_hash, current_fees, nonce_of, wait_for_receipt

RECEIPT_TIMEOUT_S = 600.0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser(
        "rebalance",
        parents=[common],
        help="plan, show, simulate, confirm, sign with the keeper's keystore, send, reconcile",
    )
    options.add_book(parser)
    options.add_rpc(parser)
    options.add_keystore(parser)
    parser.add_argument("--yes", action="store_true", help="send without asking")
    parser.add_argument("--dry-run", action="store_true", help="execute on an anvil fork instead, and stop")
    parser.add_argument(
        "--receipt-timeout",
        type=float,
        default=RECEIPT_TIMEOUT_S,
        help=f"seconds to wait for the receipt (default {RECEIPT_TIMEOUT_S:g}); the journal keeps the rest",
    )
    options.add_overrides(parser)
    options.add_journal_option(parser)
    parser.set_defaults(func=command)


@dataclass(frozen=True, slots=True)
class Prepared:
    result: PlanResult
    chain_id: int
    notes: list[Settled]
    nonce: int = 0  # the keeper's next nonce when the plan was made
    fees: Fees | None = None  # what a send would offer now (None: over the book's fee cap)


async def prepare(
    ends: endpoints.Endpoints, book: Book, account: LocalAccount, journal: Journal, act: bool = True
) -> Prepared:
    async with (
        rpc.connect(ends.calls, book=book) as w3,
        rpc.connect(ends.sends, name="send", book=book) as send_w3,
    ):
        chain_id = await checked_keeper(w3, book, account)
        if await vault_paused(w3, book.vault):
            raise pipeline.Refused(
                Refusal("vault_paused", "the vault is paused on-chain; only its owner can unpause it")
            )
        now = await block_timestamp(w3, "latest")
        notes = await settle(
            w3, journal, chain_id, book.vault, account.address, now, book.fees.confirmations, act=act,
            send_w3=send_w3,
        )  # fmt: skip
        result = await plan_on(w3, book, "latest", check=True, journal=journal)
        nonce = await nonce_of(w3, account.address, "pending")
        try:
            fees: Fees | None = await current_fees(w3, book.fees)
        except GasTooExpensive:
            fees = None
    return Prepared(result, chain_id, notes, nonce, fees)


def prompt_facts(book: Book, prepared: Prepared, keeper: str) -> list[str]:
    """What the person confirms: where, from whom, at which nonce, for at most how much, moving what."""
    result = prepared.result
    plan = result.decision.plan
    assert plan is not None
    try:
        chain = presets.chain(prepared.chain_id).name
    except BadInput:
        chain = f"chain {prepared.chain_id}"
    gas_limit = plan.costs.gas_units * (10_000 + book.fees.gas_margin_bps) // 10_000
    native = book.dex.native
    if prepared.fees is None:
        fee = "over the book's max_fee_gwei now: the send will be refused"
    else:
        most = Fraction(gas_limit * prepared.fees.max_fee, 10**18)
        fee = (
            f"at most {fmt(most, 8)} {native} ({fmt(most * result.view.native_price, 4)} {book.numeraire}): "
            f"~{gas_limit:,} gas at up to {prepared.fees.max_fee / 1e9:,.3f} gwei"
        )
    return [
        f"on {chain} (chain {prepared.chain_id}), from keeper {keeper} with nonce {prepared.nonce}",
        f"to vault {book.vault}: {len(plan.ops)} ops moving "
        f"{fmt(plan.costs.traded_value, 2)} {book.numeraire}",
        f"gas: {fee}",
    ]


async def send(ends: endpoints.Endpoints, book: Book, book_path: Path, account: LocalAccount,
               journal: Journal, record: RunRecord, prepared: Prepared, overrides: frozenset[str],
               receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
               out: Callable[[str], None] = print) -> tuple[Outcome, list[str]]:  # fmt: skip
    """Settle again, send through the pipeline (every check at the head), wait, reconcile; the
    outcome and what its tax record says (lines)."""
    result = prepared.result
    plan = result.decision.plan
    assert plan is not None
    keeper = account.address
    async with (
        rpc.connect(ends.calls, book=book) as w3,
        rpc.connect(ends.sends, name="send", book=book) as send_w3,
    ):
        # the chain may have moved while the person read the plan: settle again; the pipeline
        # re-simulates at the head
        now = await block_timestamp(w3, "latest")
        await settle(w3, journal, prepared.chain_id, book.vault, keeper, now, book.fees.confirmations,
                     send_w3=send_w3)  # fmt: skip
        block = result.view.snapshot.block_number
        sender = pipeline.Sender(
            book=book, keeper=keeper, chain_id=prepared.chain_id, reader=w3, sender=send_w3, journal=journal,
            run_id=record.id, account=account, pause_file=pause_path(book_path, book), overrides=overrides,
        )  # fmt: skip
        sent = await pipeline.send(sender, result, block=block, block_hash=await block_hash(w3, block))
        deep = book.fees.confirmations
        out(f"sent {sent.signed.tx_hash} (nonce {sent.nonce}): waiting for {deep} confirmation(s)")
        try:
            mined = await wait_for_receipt(
                w3, sent.signed.tx_hash, book.fees.confirmations, receipt_timeout_s, on_poll=waiting_line(out)
            )
            outcome = await read_outcome(w3, book, result.view, plan, mined, keeper, sent.calldata)
        except RpcError as exc:
            raise Pending(
                f"{sent.signed.tx_hash} was sent; following it failed: {exc}. The next run settles it"
            ) from None
        plan_json = plan_report.intent_json(result.view, result.decision)
        realized = with_tax(journal, result.view.snapshot.chain_id, book.vault, sent.intent, plan_json,
                            outcome_json(outcome))  # fmt: skip
        journal.add_outcome(sent.intent, outcome.receipt, matches=outcome.matches, realized=realized)
    return outcome, tax_report.realized_lines(realized.get("tax"), plan_json.get("tax"), book.numeraire)


def waiting_line(out: Callable[[str], None]) -> Callable[[int | None, int, float], None]:
    """A live line on a terminal while a transaction waits (pending, then its confirmations)."""
    live = sys.stdout.isatty()

    def poll(block: int | None, depth: int, waited_s: float) -> None:
        if not live:
            return
        state = "pending" if block is None else f"in block {block}, {depth} confirmation(s)"
        sys.stdout.write(f"\r  {state} after {waited_s:.0f} s   ")
        sys.stdout.flush()

    return poll


def _confirmed(ask: Callable[[str], str]) -> bool:
    try:
        answer = ask("send this rebalance? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def command(args: argparse.Namespace) -> int:
    return rebalance(args, lambda text: print(text, flush=True), input)


def rebalance(args: argparse.Namespace, out: Callable[[str], None], ask: Callable[[str], str]) -> int:
    """The whole manual rebalance; the exit code (0: executed as predicted, or nothing to do)."""
    journal = Journal.open(journal_path(args.journal, args.config))
    with journal, journal.exclusive(), journal.recording("rebalance", args.config) as record:
        book = Book.load(args.config)
        journal.bind(book.vault, book.chain_id)
        ends = endpoints.resolve(book, args.rpc)
        account = options.load_key(args)
        overrides = frozenset(args.override)
        journal.describe_run(
            record.id, endpoint=endpoints.endpoint_label(ends.calls[0]), keeper=account.address
        )
        prepared = asyncio.run(prepare(ends, book, account, journal, act=not args.dry_run))
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
            run = fork_run.run_on_fork(
                book, ends.calls[0], result.view.snapshot.block_number, out, journal, record
            )
            lines, code = fork_run.execution_report(run)  # the plan is shown above
            out("\n".join(lines))
            record.status = "dry-run matched" if code == 0 else "dry-run differs"
            return code
        if overrides:
            out(f"overriding: {', '.join(sorted(overrides))} (journaled with this run)")
        for line in prompt_facts(book, prepared, account.address):
            out(line)
        if not args.yes and not _confirmed(ask):
            record.status, record.message = "declined", "not confirmed: nothing sent"
            out("not confirmed: nothing sent")
            return 1
        try:
            outcome, taxed = asyncio.run(
                send(
                    ends,
                    book,
                    args.config,
                    account,
                    journal,
                    record,
                    prepared,
                    overrides,
                    args.receipt_timeout,
                    out,
                )
            )
        except pipeline.Refused as exc:
            record.status = "refused"
            guard = exc.refusal.guard
            hint = f" (--override {guard} sends anyway)" if guard in options.GUARD_NAMES else ""
            raise pipeline.Refused(exc.refusal, hint) from None
        out("")
        out("\n".join([*render_outcome(outcome), *taxed]))
        record.status = "executed" if outcome.receipt.success else "reverted"
        record.message = "; ".join(outcome.mismatches()) or "realized equals predicted"
        if overrides:
            record.message += f"; overrode {', '.join(sorted(overrides))}"
        return 0 if outcome.receipt.success and outcome.matches else 1
