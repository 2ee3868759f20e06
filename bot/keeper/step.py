"""The keeper: one head at a time, from snapshot to journal (orchestration).

Per head (the newest; heads that arrived meanwhile are skipped):

    paused? -> reorg check -> settle what was sent (record receipts, replace stuck transactions,
    rebroadcast dropped ones) -> due? -> snapshot -> valuation -> strategy -> plan -> fees, gas,
    guards -> simulation at the head (+ on a second endpoint) -> intent -> sign -> raw bytes
    journaled -> broadcast

Nothing is planned while a transaction of the book is unresolved: confirmation and
reconciliation happen on the following heads, by settling. Each head ends in one log line
with its action and reason, and in the metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain.block_clock import BlockClock, block_timestamp
from bot.chain.heads import Head
from bot.chain.snapshot_reader import read_book
from bot.chain.vault import BundleReverted, read_guards
from bot.core.baselines import Baselines
from bot.core.book import Book, Moment, Schedule
from bot.core.decision import Rebalance
from bot.core.errors import KeeperError, Pending, RpcError, StillPending
from bot.core.guards import CircuitBreaker, Refusal
from bot.core.snapshot import Snapshot
from bot.core.units import decimal_text
from bot.core.valuation import BookView, History, observe, value_book
from bot.core.vault_guards import VaultGuards
from bot.keeper import pipeline
from bot.keeper.pipeline import Sender
from bot.keeper.planning import PlanResult, checked_keeper, plan_on
from bot.ops.alerts import Alert, Alerter
from bot.ops.kill_switch import pause, paused
from bot.ops.metrics import Health, Registry
from bot.tx import upkeep
from bot.tx.journal import EXECUTED, REVERTED, HeadRow, Journal, JournalError, RunRecord
from bot.tx.replace import reorged, replace_if_stuck
from bot.tx.settle import settle
from bot.tx.transactions import (
    SendFailed,
    native_balance,
)

log = logging.getLogger(__name__)
WAIT_OUT = re.compile(r"cools down|cooling down|bundles of the day are used up|day's bundles are used up")


@dataclass(frozen=True, slots=True)
class Step:
    """What the keeper did with one head.

    Attributes:
        action: skipped | paused | waiting | not_due | hold | refused | failed | sent | poked
        decide_ms: from the head seen to the decision (when it decided).
        broadcast_ms: from the head seen to the broadcast (when it sent).
    """

    head: int
    action: str
    reason: str
    decide_ms: float | None = None
    broadcast_ms: float | None = None
    tx_hash: str | None = None


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


@dataclass
class Keeper:
    """One book's keeper. `prepare()` once, then `step(head)` per head."""

    book: Book
    book_path: Path
    account: LocalAccount
    journal: Journal
    record: RunRecord
    reader: AsyncWeb3[Any]
    sender: AsyncWeb3[Any]
    pause_file: Path
    checker: AsyncWeb3[Any] | None = None
    alerter: Alerter | None = None
    registry: Registry = field(default_factory=Registry)
    health: Health = field(default_factory=lambda: Health(stale_after_s=60.0))
    chain_id: int = 0
    last_head: int = -1
    last_hash: str = ""
    history: History = field(default_factory=History)
    sent_count: int = 0
    observed_at: int = -(2**62)  # the block timestamp of the last price observation journaled
    baselines: Baselines | None = None  # where holding and the LP never rebalanced start
    result: PlanResult | None = None  # the last head's view and decision (the dashboard shows them)

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.book.guards.max_failures)
        self.schedule = Schedule.parse(self.book.policy.evaluate)
        self.clock = BlockClock(self.reader)
        r = self.registry
        self.m_head = r.gauge("head", "the newest head the keeper processed")
        self.m_lag = r.gauge("head_lag_seconds", "seconds between the head's timestamp and its processing")
        self.m_drift = r.gauge("sleeve_drift", "weight minus target per sleeve (0.01 = 1 point)")
        self.m_weight = r.gauge("sleeve_weight", "weight per sleeve")
        self.m_il = r.gauge("sleeve_il", "impermanent loss per LP sleeve (a ratio, negative is a loss)")
        self.m_value = r.gauge("book_value", "the book's value in its numeraire")
        self.m_gas = r.counter("gas_spent_wei", "wei paid for gas by executed bundles")
        self.m_actions = r.counter("heads", "heads processed, by action")
        self.m_failures = r.counter("failures", "failures counted by the circuit breaker, by kind")
        self.m_failures_row = r.gauge("failures_in_a_row", "the circuit breaker's count")
        self.m_paused = r.gauge("paused", "1 while the kill switch is on")
        self.m_refusals = r.counter("refusals", "plans refused by a guard, by guard")
        self.m_executed = r.counter("bundles", "bundles mined, by status")
        self.m_replaced = r.counter("replacements", "transactions replaced with higher fees")
        self.m_balance = r.gauge("keeper_balance_wei", "the keeper's native balance")
        self.m_rpc_errors = r.counter("rpc_errors", "heads abandoned on an RPC error")
        self.m_pokes = r.counter("pokes", "pokes sent to keep the vault's TWAP guard usable")

    # --- set-up -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Check the chain, the key and the book against the chain (paused or not), claim the
        journal, record the pairs' prices, and learn when the book was last rebalanced."""
        self.chain_id = await checked_keeper(self.reader, self.book, self.account)
        self.journal.bind(self.book.vault, self.chain_id)
        self.journal.describe_run(self.record.id, chain_id=self.chain_id)
        view = await self._read_view("latest")
        self._record_prices(view.snapshot)
        started = self.journal.baselines(self.chain_id, self.book.vault)
        if started is None:
            self.baselines = Baselines.of(view)
            self.journal.set_baselines(self.chain_id, self.book.vault, self.baselines.as_json())
        else:
            self.baselines = Baselines.from_json(started)
        await self._check_gas_balance()
        last = self.journal.last_outcome_block(self.chain_id, self.book.vault)
        if last is not None:
            self.history = History(Moment(last, await block_timestamp(self.reader, last)))

    # --- one head -------------------------------------------------------------------------------

    async def step(self, head: Head) -> Step:
        """Everything the keeper does for `head`. Never raises: an RPC failure skips the head, and any
        other error is logged with its kind, alerted and counted by the circuit breaker."""
        if head.number < self.last_head or (head.number == self.last_head and head.hash == self.last_hash):
            stale = f"head {head.number} is not newer than {self.last_head}"
            return self._done(Step(head.number, "skipped", stale))
        # the same height with another hash is a reorg: processed like a new head
        self.last_head, self.last_hash = head.number, head.hash
        try:
            step = await self._step(head)
        except RpcError as exc:  # the node's: the next head tries again
            self.m_rpc_errors.inc()
            step = Step(head.number, "skipped", f"RPC failed: {exc}")
        except Pending as exc:
            step = Step(head.number, "waiting", str(exc))
        except KeeperError as exc:  # ours (the journal, the book against the chain, a bad answer we trusted)
            reason = f"{type(exc).__name__}: {exc}"
            await self._failed(type(exc).__name__, reason)
            step = Step(head.number, "failed", reason)
        except Exception as exc:  # a bug: the process goes on, loudly; the breaker stops the sending
            log.exception("head %d: unexpected %s", head.number, type(exc).__name__)
            reason = f"unexpected {type(exc).__name__}: {exc}"
            await self._failed("bug", reason)
            step = Step(head.number, "failed", reason)
        self._journal_head(head, step)
        self.health.processed(head.number)
        self.m_head.set(head.number)
        self.m_lag.set(max(0.0, time.time() - head.timestamp))
        return self._done(step)

    def _journal_head(self, head: Head, step: Step) -> None:
        """The head's action and reason, with the book's value and the baselines' where it was valued."""
        view = self.result.view if self.result is not None else None
        view = view if view is not None and view.now.block == head.number else None
        value = hold_value = lp_value = None
        weights = None
        if view is not None and self.baselines is not None:
            hold, lp = self.baselines.values(view)
            value, hold_value, lp_value = decimal_text(view.total), decimal_text(hold), decimal_text(lp)
            weights = {s.label: decimal_text(s.weight) or "0" for s in view.sleeves}
        row = HeadRow(head.number, head.timestamp, time.time(), step.action, step.reason, step.tx_hash,
                      value, hold_value, lp_value, weights)  # fmt: skip
        try:
            self.journal.add_head(self.chain_id, self.book.vault, row)
        except JournalError as exc:  # the head's own work is done; its record is what is lost
            log.warning("head %d: not journaled: %s", head.number, exc)

    def _done(self, step: Step) -> Step:
        self.m_actions.inc(action=step.action)
        fields: dict[str, object] = {"head": step.head, "action": step.action, "reason": step.reason}
        if step.decide_ms is not None:
            fields["decide_ms"] = round(step.decide_ms, 2)
        if step.broadcast_ms is not None:
            fields["broadcast_ms"] = round(step.broadcast_ms, 2)
        if step.tx_hash:
            fields["tx_hash"] = step.tx_hash
        level = logging.WARNING if step.action in ("failed", "refused") else logging.INFO
        log.log(level, "head %d: %s: %s", step.head, step.action, step.reason, extra={"fields": fields})
        return step

    async def _step(self, head: Head) -> Step:
        reason = paused(self.pause_file)
        self.m_paused.set(1 if reason else 0)
        if reason != self.health.paused:  # the switch moved: say so once
            await self._alert("paused" if reason else "resumed", reason or "the kill switch is off")
        self.health.paused = reason
        if reason:
            return Step(head.number, "paused", reason)
        if self.breaker.tripped:  # resumed by hand after the breaker paused the keeper
            self.breaker.succeeded()
            self.m_failures_row.set(0)
        for tx_hash in await reorged(self.reader, self.journal, self.chain_id, self.book.vault, head.number):
            await self._alert("failure", f"reorg: {tx_hash} left the chain; following it again")
        waiting = await self._settle(head)
        if waiting is not None:
            return waiting
        now = Moment(head.number, head.timestamp)
        if not self.schedule.due(now, self.history.last_evaluation):
            step = Step(
                head.number,
                "not_due",
                f"evaluated this period ({self.schedule}); next at {self.schedule.next_start(now)}",
            )
            if not self._observation_due(head.timestamp):
                return step
            view, guards = await asyncio.gather(
                self._read_view(head.number),
                read_guards(self.reader, self.book.vault, self._pairs, head.number),
            )
            snapshot = view.snapshot
            self._record_prices(snapshot)
            return await self._upkeep(head, step, snapshot, guards)
        result = await plan_on(
            self.reader, self.book, head.number, check=False, history=self.history, clock=self.clock,
            journal=self.journal,
        )  # fmt: skip
        if self._observation_due(head.timestamp):
            self._record_prices(result.view.snapshot)
        self.history = History(self.history.last_rebalance, now)
        self.result = result
        self._observe(result.view)
        decide_ms = _ms_since(head.seen_at)
        decision = result.decision
        if not isinstance(decision, Rebalance) or decision.plan is None or not decision.plan.ops:
            step = Step(head.number, "hold", decision.reason, decide_ms)
        else:
            step = await self._send(head, result, decide_ms)
        if step.action in ("hold", "refused"):
            return await self._upkeep(head, step, result.view.snapshot, result.view.vault)
        return step

    # --- the vault's own TWAP guard, kept usable --------------------------------------------------

    @property
    def _pairs(self) -> list[str]:
        return list(self.book.pairs.values())

    async def _upkeep(self, head: Head, step: Step, snapshot: Snapshot, guards: VaultGuards) -> Step:
        """On a head that sends no bundle: poke the pairs whose vault TWAP needs it (`pokes_due`),
        once the last poke is settled. The poke is the head's action; its refusal by a gas guard
        is said in the reason, and the head keeps its action."""
        due = guards.pokes_due(snapshot.pairs, head.timestamp)
        if not due:
            return step
        keeper = self.account.address
        await upkeep.settle_upkeep(
            self.reader, self.sender, self.journal, self.chain_id, self.book.vault, keeper
        )
        # a poke this head's state does not show yet (in the air, or mined after its block): no other
        in_air = self.journal.upkeep_unseen(self.chain_id, self.book.vault, snapshot.block_number)
        if in_air:
            return dataclasses.replace(
                step, reason=f"{step.reason}; the last poke ({in_air[0]}) is not in this head's state yet"
            )
        try:
            poked = await upkeep.poke(
                self.reader, self.sender, self.journal, self.account, self.book, self.chain_id, due, guards
            )
        except (Pending, SendFailed, BundleReverted) as exc:
            return dataclasses.replace(step, reason=f"{step.reason}; no poke: {exc}")
        if isinstance(poked, Refusal):
            self.m_refusals.inc(guard=poked.guard)
            return dataclasses.replace(step, reason=f"{step.reason}; no poke: {poked.guard}: {poked.reason}")
        self.m_pokes.inc()
        return Step(
            head.number,
            "poked",
            f"{step.reason}; poked {', '.join(poked.pairs)} in {poked.tx_hash} (the vault's TWAP guard: "
            f"nonce {poked.nonce}, gas limit {poked.gas_limit}, at most {poked.max_fee_wei} wei)",
            step.decide_ms,
            tx_hash=poked.tx_hash,
        )

    # --- the TWAP window from the keeper's own records -----------------------------------------

    def _observation_due(self, timestamp: int) -> bool:
        """Every tenth of the TWAP window the pairs' cumulatives go to the journal: the window's
        start is then read from the journal, never from an archive node."""
        return timestamp - self.observed_at >= max(1, self.book.prices.twap_window_s // 10)

    def _record_prices(self, snapshot: Snapshot) -> None:
        keep_s = 2 * self.book.prices.twap_window_s
        self.journal.add_observations(self.chain_id, observe(snapshot).values(), keep_s)
        self.observed_at = snapshot.block_timestamp

    async def _read_view(self, block: int | str) -> BookView:
        """The book valued at `block`: valuing checks the chain against the book file (BadInput)."""
        return value_book(self.book, await read_book(self.reader, self.book, block))

    def _observe(self, view: BookView) -> None:
        self.m_value.set(float(view.total))
        for sleeve in view.sleeves:
            self.m_drift.set(float(sleeve.drift), sleeve=sleeve.label)
            self.m_weight.set(float(sleeve.weight), sleeve=sleeve.label)
            if sleeve.position is not None:
                self.m_il.set(float(sleeve.position.il), sleeve=sleeve.label)

    async def _settle(self, head: Head) -> Step | None:
        """Resolve what was sent; a Step when something is still unresolved (nothing is planned)."""
        keeper = self.account.address
        # pokes first: their fees count in the day's gas (a journal read when none is open)
        await upkeep.settle_upkeep(
            self.reader, self.sender, self.journal, self.chain_id, self.book.vault, keeper
        )
        try:
            notes = await settle(
                self.reader,
                self.journal,
                self.chain_id,
                self.book.vault,
                keeper,
                head.timestamp,
                self.book.fees.confirmations,
                send_w3=self.sender,
            )
        except StillPending as exc:
            return await self._maybe_replace(head, exc)
        except Pending as exc:  # a rebroadcast that failed included: the next head tries again
            return Step(head.number, "waiting", str(exc))
        for note in notes:
            log.info("journal: %s", note)
            if note.status == EXECUTED:
                await self._executed(note.intent_id)
            elif note.status == REVERTED:
                self.m_executed.inc(status="reverted")
                await self._failed("reverted", f"intent #{note.intent_id} reverted on chain")
        return None

    async def _executed(self, intent_id: int) -> None:
        self.m_executed.inc(status="executed")
        self.breaker.succeeded()
        self.m_failures_row.set(0)
        record = self.journal.intent_outcome(intent_id)
        if record is not None:
            block, fee_wei = record
            self.m_gas.inc(fee_wei)
            self.history = History(
                Moment(block, await block_timestamp(self.reader, block)), self.history.last_evaluation
            )
        await self._check_gas_balance()

    async def _check_gas_balance(self) -> None:
        balance = await native_balance(self.reader, self.account.address)
        self.m_balance.set(balance)
        if balance < self.book.guards.min_gas_balance_wei:
            await self._alert(
                "low_gas",
                f"keeper {self.account.address} holds {balance / 1e18:.6f} native, "
                f"below min_gas_balance {self.book.guards.min_gas_balance}",
            )

    async def _maybe_replace(self, head: Head, pending: StillPending) -> Step:
        intent = next(
            (i for i in self.journal.unresolved(self.chain_id, self.book.vault) if i.id == pending.intent_id),
            None,
        )
        if intent is None:
            return Step(head.number, "waiting", str(pending))
        try:
            replaced = await replace_if_stuck(
                self.reader,
                self.sender,
                self.journal,
                self.account,
                intent,
                head.number,
                head.timestamp,
                self.book.fees,
            )
        except SendFailed as exc:
            await self._failed("refused", f"the replacement was refused: {exc}")
            return Step(head.number, "failed", str(exc))
        if replaced is None:
            return Step(head.number, "waiting", str(pending))
        self.m_replaced.inc()
        return Step(
            head.number,
            "waiting",
            f"replaced {replaced.replaced} with {replaced.tx_hash} on nonce {replaced.nonce}: fee cap "
            f"{replaced.previous.max_fee} -> {replaced.fees.max_fee}, tip {replaced.previous.tip} -> "
            f"{replaced.fees.tip} wei",
            tx_hash=replaced.tx_hash,
        )

    async def _failed(self, kind: str, reason: str) -> None:
        self.m_failures.inc(kind=kind)
        tripped = self.breaker.failed()
        self.m_failures_row.set(self.breaker.failures)
        await self._alert("failure", reason)
        if tripped:
            why = f"circuit breaker: {self.breaker.failures} failures in a row (last: {reason})"
            pause(self.pause_file, why)
            log.error("%s; paused: `ammkeeper resume` to go on", why)
            await self._alert("breaker", why)

    async def _alert(self, kind: str, title: str, detail: str = "") -> None:
        delivered = False
        if self.alerter is not None:
            delivered = await self.alerter.send(Alert(kind, title, detail, self.book.name))
        try:
            self.journal.add_alert(kind, title, delivered)
        except JournalError as exc:
            log.warning("alert %s not journaled: %s", kind, exc)

    # --- sending --------------------------------------------------------------------------------

    async def _send(self, head: Head, result: PlanResult, decide_ms: float) -> Step:
        """The plan through the one send pipeline; each way it can stop is a kind of Step."""
        plan = result.decision.plan
        assert plan is not None
        sender = Sender(
            book=self.book, keeper=self.account.address, chain_id=self.chain_id, reader=self.reader,
            sender=self.sender, journal=self.journal, run_id=self.record.id, account=self.account,
            pause_file=self.pause_file, checker=self.checker,
        )  # fmt: skip
        try:
            sent = await pipeline.send(
                sender, result, block=head.number, block_hash=head.hash, head=head.number
            )
        except pipeline.Refused as exc:
            if exc.refusal.guard == "gas_balance":
                await self._alert("low_gas", exc.refusal.reason)
            if exc.refusal.guard == "vault_guard" and WAIT_OUT.search(exc.refusal.reason):
                # the vault's cooldown or daily cap: a wait it set, not a warning a head for an hour
                self.m_refusals.inc(guard=exc.refusal.guard)
                return Step(head.number, "waiting", f"{exc.refusal.guard}: {exc.refusal.reason}", decide_ms)
            return self._refused(head, exc.refusal, decide_ms)
        except pipeline.ChainMoved as exc:  # the market moved while planning: plan again on the next head
            return Step(head.number, "skipped", str(exc), decide_ms)
        except pipeline.EndpointsDisagree as exc:  # a node is wrong, not us: alerted, not counted
            await self._alert("failure", str(exc))
            return Step(head.number, "failed", str(exc), decide_ms)
        except pipeline.PlanWrong as exc:  # the book or the planner is wrong: ours to fix
            await self._failed("plan", str(exc))
            return Step(head.number, "failed", str(exc), decide_ms)
        except BundleReverted as exc:  # it simulated as planned at the head, yet the estimate reverts
            reason = f"the bundle reverts in estimation although its simulation matched: {exc}"
            await self._failed("estimate", reason)
            return Step(head.number, "failed", reason, decide_ms)
        except SendFailed as exc:
            await self._failed("refused", str(exc))
            return Step(head.number, "failed", str(exc), decide_ms)
        except Pending as exc:  # an unknown pending nonce, or a broadcast in the air: settling decides
            return Step(head.number, "waiting", str(exc), decide_ms)
        broadcast_ms = _ms_since(head.seen_at)
        self.sent_count += 1
        fees = sent.fees
        reason = (
            f"{result.decision.reason}; sent {len(plan.ops)} ops as {sent.signed.tx_hash} (nonce "
            f"{sent.nonce}, gas limit {sent.gas_limit}, fee cap {fees.max_fee}, tip {fees.tip})"
        )
        return Step(head.number, "sent", reason, decide_ms, broadcast_ms, sent.signed.tx_hash)

    def _refused(self, head: Head, refusal: Refusal, decide_ms: float) -> Step:
        self.m_refusals.inc(guard=refusal.guard)
        return Step(head.number, "refused", f"{refusal.guard}: {refusal.reason}", decide_ms)

    def in_flight(self) -> list[str]:
        """Unresolved transactions of the book, for the run's final record."""
        out = []
        for intent in self.journal.unresolved(self.chain_id, self.book.vault):
            attempts = self.journal.attempts(intent.id)
            out.append(f"intent #{intent.id} ({attempts[-1].tx_hash if attempts else 'not signed'})")
        return out
