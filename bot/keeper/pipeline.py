"""The one send pipeline: from a checked plan to a broadcast transaction (orchestration).

The keeper and the manual rebalance send every bundle through `send`, so every bundle passes the
same checks in the same order, whoever sends it:

    kill switch -> fees (held to the book's fee cap) -> deadline -> simulation at the head (must
    equal the prediction) -> gas estimate with its margin -> balance and the day's spending ->
    every guard -> the same simulation on a second endpoint -> nonce rule -> intent, sign, raw
    bytes journaled, broadcast (`bot.tx.submit`)

A person may pass over a named guard (`--override GUARD`); the override is journaled with the
intent. What stops a send says what kind of stop it is, so its caller can tell a refusal (a guard,
exit 1) from the market moving (plan again) and from the node (transient, exit 75).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain.headers import Head, header_at
from bot.chain.vault import BundleReverted, estimate_gas, simulate, vault_paused
from bot.core.book import Book
from bot.core.errors import KeeperError, Pending, RpcError
from bot.core.executor_ops import Op, execute_calldata
from bot.core.fees import Fees
from bot.core.guards import Refusal, Spending, check_plan, midnight_utc
from bot.keeper.planning import PlanResult
from bot.ops.kill_switch import paused
from bot.report import plan_report
from bot.tx.journal import Journal
from bot.tx.submit import submit
from bot.tx.transactions import GasTooExpensive, Signed, current_fees, native_balance, nonce_of

# the vault's owner-set guards (price against its own TWAP, cooldown, daily cap): a bundle they
# refuse waits for a later head; it is not a plan gone wrong
VAULT_GUARD = re.compile(r"too far from its TWAP|no price observation|cooling down|bundles are used up")


class Refused(KeeperError):
    """A guard refuses the bundle (nothing was sent)."""

    run_status = "refused"

    def __init__(self, refusal: Refusal, hint: str = "") -> None:
        super().__init__(f"refused by {refusal.guard}: {refusal.reason}; nothing sent{hint}")
        self.refusal = refusal


class ChainMoved(KeeperError):
    """The chain moved since the plan was read and the bundle no longer does what was planned (the
    market's doing, not a failure of ours): nothing was sent; plan again."""


class InFlight(Pending):
    """The broadcast may not have reached the node: its raw bytes are journaled, and settling
    (the next head, the next run) finds out and rebroadcasts."""


class EndpointsDisagree(KeeperError):
    """The second endpoint simulates the bundle differently at the same block: one node is wrong."""


class PlanWrong(KeeperError):
    """At the block it was planned at, the bundle does not do what was planned: the book or the
    planner is wrong (a failure of ours, counted by the circuit breaker)."""


async def _holds_at_head(
    s: Sender, ops: Sequence[Op], deadline: int, addresses: list[str], predicted: dict[str, int]
) -> bool:
    """Whether the bundle, simulated at the head, still ends exactly as planned."""
    try:
        return (
            await simulate(s.reader, s.book.vault, s.keeper, ops, deadline, addresses, "latest") == predicted
        )
    except BundleReverted:
        return False


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends, where, and what for: one per run.

    Attributes:
        reader: reads and simulations; sender: broadcasts (a private relay first); checker: a
            second endpoint that must simulate the same post-state (optional).
        pause_file: the kill switch (None: the caller has none).
        overrides: guards a person chose to pass over for this run.
    """

    book: Book
    keeper: str
    chain_id: int
    reader: AsyncWeb3[Any]
    sender: AsyncWeb3[Any]
    journal: Journal | None = None
    run_id: int | None = None
    account: LocalAccount | None = None
    pause_file: Path | None = None
    checker: AsyncWeb3[Any] | None = None
    overrides: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Ready:
    """A bundle every check let through: what signing it needs."""

    fees: Fees
    gas_limit: int
    bundle_id: bytes
    calldata: bytes


@dataclass(frozen=True, slots=True)
class Sent:
    intent: int
    signed: Signed
    nonce: int
    gas_limit: int
    fees: Fees
    calldata: bytes


async def check(s: Sender, result: PlanResult, *, block: int) -> Ready:
    """Every check before signing: kill switch, fee cap, deadline, simulation at the head, gas,
    balance and spending, the guards, the second endpoint. Sends nothing, writes nothing.

    Args:
        block: the block the plan was made at.

    Raises:
        Refused: a guard (or the kill switch, or the fee cap) refuses it.
        PlanWrong: at its own block the bundle does not do what was planned (ours to fix).
        ChainMoved: at the head it no longer does (the market moved), or its deadline passed.
        EndpointsDisagree: the second endpoint simulates something else.
        BundleReverted: the node's gas estimate reverts although the simulation at the head matched.
        RpcError: a read failed.
    """
    book, keeper = s.book, s.keeper
    plan = result.decision.plan
    if plan is None or result.deadline is None:
        raise KeeperError("nothing to send: the plan has no ops")
    ops, deadline = plan.executor_ops, result.deadline
    if s.pause_file is not None and "kill_switch" not in s.overrides:
        reason = paused(s.pause_file)
        if reason is not None:
            raise Refused(Refusal("kill_switch", f"the book is paused: {reason}"))
    # the vault's own guards, as it stood at the plan's block (its cooldown, its daily cap, its
    # TWAP of every pair the bundle touches): what it would refuse is not simulated or sent
    touched = {p.op.pair for p in plan.ops}
    view = result.view
    vault_says = view.vault.refusal(
        [p for p in view.pairs.values() if p.address in touched], view.snapshot.block_timestamp
    )
    if vault_says is not None:
        raise Refused(Refusal("vault_guard", f"the vault would refuse it: {vault_says}"))
    predicted = {**plan.balances, **plan.lp}
    addresses = list(predicted)
    # the reads that do not depend on each other go out together: a keeper's broadcast latency
    fees_read, head, at_block, balance, stopped = await asyncio.gather(
        current_fees(s.reader, book.fees),
        header_at(s.reader, "latest"),
        simulate(s.reader, book.vault, keeper, ops, deadline, addresses, block),
        native_balance(s.reader, keeper),
        vault_paused(s.reader, book.vault),
        return_exceptions=True,
    )
    for answer in (fees_read, head, at_block, balance, stopped):  # a node's failure first
        if isinstance(answer, RpcError):
            raise answer
    if stopped is True:
        raise Refused(Refusal("vault_paused", "the vault is paused on-chain; only its owner can unpause it"))
    if isinstance(fees_read, GasTooExpensive):
        raise Refused(Refusal("max_fee", str(fees_read))) from None
    for answer in (fees_read, head, balance, stopped):
        if isinstance(answer, BaseException):
            raise answer
    assert isinstance(fees_read, Fees) and isinstance(head, Head) and isinstance(balance, int)
    fees = fees_read
    if head.timestamp >= deadline:
        raise ChainMoved("the plan's deadline passed before it was sent; nothing sent: plan again")
    # at the plan's own block the bundle must do what was planned: if not, the plan (the book, our
    # math) is wrong, a failure of ours; at the head it may differ only because the market moved
    if isinstance(at_block, BundleReverted):
        if VAULT_GUARD.search(at_block.reason):  # the vault's own guards: wait, this is no failure of ours
            raise Refused(Refusal("vault_guard", f"the vault refuses it: {at_block.reason}"))
        raise PlanWrong(
            f"the bundle reverts at the block it was planned at: {at_block.reason or '(no reason)'}"
        )
    if isinstance(at_block, BaseException):
        raise at_block
    if at_block != predicted:
        raise PlanWrong("at the block it was planned at, the bundle ends with other balances than planned")
    if head.number != block and not await _holds_at_head(s, ops, deadline, addresses, predicted):
        raise ChainMoved(
            f"the chain moved since block {block} and the bundle would no longer do what was planned; "
            "nothing sent: plan again"
        )
    bundle_id = os.urandom(32)
    try:
        estimate = await estimate_gas(s.reader, book.vault, keeper, ops, deadline, bundle_id)
    except BundleReverted:
        if not await _holds_at_head(s, ops, deadline, addresses, predicted):  # a new head came meanwhile
            raise ChainMoved(
                f"the chain moved while the bundle of block {block} was estimated; nothing sent"
            ) from None
        raise
    gas_limit = estimate * (10_000 + book.fees.gas_margin_bps) // 10_000
    spending = Spending(
        next_base_fee=fees.next_base_fee,
        gas_cost=gas_limit * fees.max_fee,
        keeper_balance=balance,
        spent_today=0
        if s.journal is None
        else s.journal.gas_spent_since(s.chain_id, book.vault, midnight_utc(time.time())),
    )
    names = {t.address: symbol for symbol, t in result.view.tokens.items()}
    refusal = check_plan(
        book.guards,
        plan,
        spot=result.view.prices,
        twap=result.view.twap,
        spending=spending,
        names=names,
        overrides=s.overrides,
    )
    if refusal is not None:
        raise Refused(refusal)
    if s.checker is not None:
        try:
            elsewhere: dict[str, int] | None = await simulate(
                s.checker, book.vault, keeper, ops, deadline, addresses, block
            )
        except BundleReverted:
            elsewhere = None
        if elsewhere != predicted:
            raise EndpointsDisagree(
                f"cross-check: the second endpoint disagrees about block {block}; nothing sent"
            )
    return Ready(fees, gas_limit, bundle_id, execute_calldata(ops, deadline, bundle_id))


async def send(
    s: Sender, result: PlanResult, *, block: int, block_hash: str, head: int | None = None
) -> Sent:
    """`check` the plan, then journal the intent, sign, journal the raw bytes and broadcast it.

    Args:
        block, block_hash: the block the plan was made at (journaled with the intent).
        head: the head the broadcast happens at (journaled with the attempt; the keeper's).

    Raises:
        Refused, PlanWrong, ChainMoved, EndpointsDisagree, BundleReverted, RpcError: as `check`
            (nothing sent).
        Pending: the keeper has a transaction pending that the journal does not know.
        SendFailed: the node refused the transaction (journaled as refused).
        InFlight: the broadcast may not have arrived (its raw bytes are journaled: settling decides).
    """
    if s.account is None or s.journal is None or s.run_id is None:
        raise KeeperError("sending needs the keeper's key and a journal")
    ready = await check(s, result, block=block)
    assert result.deadline is not None
    keeper = s.keeper
    # the mined nonce, and nothing pending on it: two runs racing sign the same nonce, and at
    # most one of their transactions can ever be mined
    nonce = await nonce_of(s.reader, keeper, "latest")
    if await nonce_of(s.reader, keeper, "pending") != nonce:
        raise Pending(
            f"the keeper {keeper} has a transaction pending that the journal does not know; nothing sent"
        )
    plan_json = plan_report.intent_json(result.view, result.decision)
    if s.overrides:
        plan_json["overrides"] = sorted(s.overrides)
    try:
        submitted = await submit(
            s.journal, s.run_id, s.account, s.reader, s.sender, chain_id=s.chain_id, vault=s.book.vault,
            deadline=result.deadline, plan_json=plan_json, bundle_id=ready.bundle_id, calldata=ready.calldata,
            block=block, block_hash=block_hash, nonce=nonce, gas_limit=ready.gas_limit, fees=ready.fees,
            head=head,
        )  # fmt: skip
    except RpcError as exc:
        raise InFlight(f"the broadcast may not have reached the node ({exc}); its raw bytes are in the "
                       "journal: settling finds out") from None  # fmt: skip
    return Sent(submitted.intent, submitted.signed, nonce, ready.gas_limit, ready.fees, ready.calldata)
