"""`ammkeeper plan`, as a function: read the book, value it, decide, plan, and check the plan by eth_call.

Orchestration: the IO (snapshots, headers, the vault's simulate) around the pure core.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

import strategies
from bot.chain import rpc
from bot.chain.block_clock import BlockClock, block_at_or_before
from bot.chain.snapshot_reader import SnapshotReader
from bot.chain.vault import pair_fees, read_guards, simulate, vault_keeper
from bot.core.book import Book
from bot.core.decision import Decision, decide
from bot.core.entries import LpMove, lp_moves
from bot.core.errors import BadInput, RpcError
from bot.core.snapshot import Snapshot
from bot.core.valuation import BookView, History, Observation, value_book
from bot.keeper.tax_books import tax_context
from bot.tx.journal import Journal


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What `plan_book` found.

    Attributes:
        simulation: the vault's balances (tokens and LP, by address) after an eth_call of the
            plan as its keeper; None when there was no plan or no simulation was asked for.
        deadline: the bundle's deadline (unix seconds) when there is a plan.
        keeper: the vault's keeper when there is a plan.
    """

    view: BookView
    decision: Decision
    simulation: dict[str, int] | None = None
    deadline: int | None = None
    keeper: str | None = None

    def _predicted(self) -> dict[str, int]:
        plan = self.decision.plan
        assert plan is not None
        return {**plan.balances, **plan.lp}

    @property
    def simulation_matches(self) -> bool | None:
        """True when every simulated balance equals the prediction to the wei."""
        if self.simulation is None:
            return None
        return self.simulation == self._predicted()

    def simulation_text(self) -> str:
        if self.simulation is None:
            return ""
        if self.simulation_matches:
            return (
                "\nsimulated by eth_call through the vault as its keeper: every balance equals the prediction"
            )
        lines = ["", "simulated by eth_call: balances differ from the prediction:"]
        names = {**self.view.book.pair_names, **{t.address: s for s, t in self.view.tokens.items()}}
        for address, predicted in self._predicted().items():
            got = self.simulation.get(address)
            if got != predicted:
                lines.append(f"  {names.get(address, address)}: predicted {predicted}, simulated {got}")
        return "\n".join(lines)

    def simulation_json(self) -> dict[str, Any] | None:
        if self.simulation is None:
            return None
        predicted = self._predicted()
        return {
            "matches": self.simulation_matches,
            "balances": {
                a: {"predicted": str(predicted[a]), "simulated": str(v)} for a, v in self.simulation.items()
            },
        }


# how nodes say they no longer keep a block's state (anvil, geth, erigon, reth, nethermind)


class HistoryUnavailable(BadInput):
    """The node does not keep the state where the TWAP window starts."""


@dataclass(frozen=True, slots=True)
class Window:
    """The book now, and where its TWAP window starts.

    Attributes:
        past: the book read at the window's start block (when it was read from the chain).
        start: an observation per pair at the window's start (from the keeper's journal); None
            when `past` gives the start, or when there is no window (the guard then refuses).
        note: why there is no window, when there is none.
    """

    snapshot: Snapshot
    past: list[Snapshot]
    start: dict[str, Observation] | None = None
    note: str = ""


def journaled_window(
    journal: Journal, chain_id: int, book: Book, window_start: int
) -> dict[str, Observation] | None:
    """An observation per pair of the book at or before `window_start`, no older than a second
    window before it; None when the journal lacks one for any pair."""
    oldest = window_start - book.prices.twap_window_s
    start = {}
    for pair in book.pairs.values():
        found = journal.observation_before(chain_id, pair, window_start)
        if found is None or found.timestamp < oldest:
            return None
        start[pair] = found
    return start


def journaled_moves(journal: Journal, book: Book, snapshot: Snapshot) -> list[LpMove]:
    """The LP the vault's executed bundles minted and burned, from the journal, oldest first."""
    pairs = {p.address: (p.token0.address, p.token1.address) for p in snapshot.pairs}
    executed = journal.executed_ops(snapshot.chain_id, book.vault)
    return [move for ops in executed for move in lp_moves(ops, pairs)]


async def read_with_window(
    reader: SnapshotReader,
    w3: AsyncWeb3[Any],
    book: Book,
    block: int | str,
    clock: BlockClock | None = None,
    journal: Journal | None = None,
) -> Window:
    """The book at `block`, and where its TWAP window starts: the journal's own observations when
    it has them (no archive node needed), else the book read at the window's first block.

    Raises:
        HistoryUnavailable: without a journal, when the node no longer keeps that block's state
            (with a journal, the keeper's, there is then no window: the guard refuses until the
            journal's own observations span one).
    """
    pairs = list(book.pairs.values())
    tokens = [t.address for t in book.tokens.values()]
    snapshot = await reader.read(pairs, book.vault, tokens, block)
    if book.chain_id is not None and snapshot.chain_id != book.chain_id:
        raise BadInput(f"the RPC serves chain {snapshot.chain_id}; the book is for chain {book.chain_id}")
    if snapshot.errors:
        raise snapshot.errors[0]
    window_start = snapshot.block_timestamp - book.prices.twap_window_s
    if journal is not None:
        start = journaled_window(journal, snapshot.chain_id, book, window_start)
        if start is not None:
            return Window(snapshot, [], start)
    first: int | None = None
    try:
        if clock is not None:
            first = await clock.at_or_before(window_start, snapshot.block_number)
        else:
            first = await block_at_or_before(w3, window_start, snapshot.block_number)
        if first is None or first >= snapshot.block_number:
            return Window(snapshot, [], None, "the chain is younger than the TWAP window")
        return Window(snapshot, [await reader.read(pairs, book.vault, tokens, first)])
    except RpcError as exc:
        if not rpc.HISTORY_GONE.search(str(exc)):
            raise
        at = f"block {first}" if first is not None else "the block"
        need = f"the state of {at}, {book.prices.twap_window} before block {snapshot.block_number}"
        if journal is not None:
            return Window(snapshot, [], None, f"{need} is not kept by the node, and the journal's own "
                          "observations do not span the window yet")  # fmt: skip
        raise HistoryUnavailable(
            f"the TWAP window ([prices] twap_window = {book.prices.twap_window!r}) needs {need}, which "
            f"{rpc.provider_label(w3)} no longer keeps ({str(exc)[-90:]}): use an archive node, or a "
            "shorter twap_window; a running keeper builds its window from its journal instead"
        ) from None


async def plan_on(
    w3: AsyncWeb3[Any],
    book: Book,
    block: int | str = "latest",
    check: bool = True,
    history: History | None = None,
    clock: BlockClock | None = None,
    journal: Journal | None = None,
) -> PlanResult:
    """Read, value, decide and plan the book on the chain behind `w3`; eth_call the plan when `check`.

    Args:
        history: the last rebalance and evaluation (calendar strategies need them).
        clock: a keeper's block clock (finds the TWAP window's start in a read or two).
        journal: the book's journal: its price observations start the TWAP window, and its
            executed bundles move the LP sleeves' entries.
    """
    reader = SnapshotReader(w3)
    # the vault's guards at the same block: its bundles' gas and the pokes they need depend on them
    pairs = list(book.pairs.values())
    if isinstance(block, int):  # a keeper's head: both reads at once
        window, guards = await asyncio.gather(
            read_with_window(reader, w3, book, block, clock, journal),
            read_guards(w3, book.vault, pairs, block),
        )
    else:
        window = await read_with_window(reader, w3, book, block, clock, journal)
        guards = await read_guards(w3, book.vault, pairs, window.snapshot.block_number)
    snapshot = window.snapshot
    moves = journaled_moves(journal, book, snapshot) if journal is not None else []
    view = value_book(
        book, snapshot, history=history, past=window.past, window=window.start, moves=moves, vault=guards
    )
    decision = decide(view, strategies.build(book), tax=await tax_context(w3, book, view, journal))
    plan = decision.plan
    if plan is None or not plan.ops:
        return PlanResult(view, decision)
    keeper = await vault_keeper(w3, book.vault)
    deadline = max(snapshot.block_timestamp, int(time.time())) + book.policy.deadline_s
    if not check:
        return PlanResult(view, decision, deadline=deadline, keeper=keeper)
    addresses = [*plan.balances, *plan.lp]
    simulated = await simulate(
        w3, book.vault, keeper, plan.executor_ops, deadline, addresses, snapshot.block_number
    )
    return PlanResult(view, decision, simulated, deadline, keeper)


async def plan_book(
    book: Book,
    urls: str | Sequence[str],
    block: int | str = "latest",
    check: bool = True,
    journal: Journal | None = None,
) -> PlanResult:
    """`plan_on` a fresh connection to `urls`, after checking the chain and the vault (`checked_chain`)."""
    async with rpc.connect(urls, book=book) as w3:
        await checked_chain(w3, book)
        return await plan_on(w3, book, block, check, journal=journal)


async def chain_id_of(w3: AsyncWeb3[Any]) -> int:
    answer = await rpc.result(w3, "eth_chainId", [])
    try:
        return int(answer, 16)
    except (TypeError, ValueError):
        raise RpcError(f"{rpc.provider_label(w3)} answered eth_chainId {str(answer)[:40]!r}") from None


async def checked_chain(w3: AsyncWeb3[Any], book: Book) -> tuple[int, str]:
    """(chain id, the vault's keeper), once the node's chain is the book's and the vault is an
    ammkeeper executor. Every command that reads a book checks this first.

    Raises:
        BadInput: another chain, or a vault that is not an executor (no code, no `keeper()`).
        RpcError: the node failed or answered something unusable (transient).
    """
    chain_id = await chain_id_of(w3)
    if book.chain_id is not None and chain_id != book.chain_id:
        raise BadInput(f"the RPC serves chain {chain_id}; the book is for chain {book.chain_id}")
    keeper = await vault_keeper(w3, book.vault)
    # the vault computes swaps with its own fee per pair: a book that says another predicts wrong
    for address, fee in (await pair_fees(w3, book.vault, list(book.pairs.values()))).items():
        if fee is not None and fee != book.fee_bps(address):
            name, said = book.pair_names[address], book.fee_bps(address)
            raise BadInput(
                f"pair {name}: the vault swaps it with a {fee} bps fee, the book says {said} bps "
                "([dex] fee_bps, or its [dexes] entry): fix the book or the vault's allowlist"
            )
    return chain_id, keeper


async def checked_keeper(w3: AsyncWeb3[Any], book: Book, account: LocalAccount) -> int:
    """The chain id, after `checked_chain` and checking that the key is the vault's keeper."""
    chain_id, keeper = await checked_chain(w3, book)
    if keeper != account.address:
        raise BadInput(
            f"the key {account.address} is not the keeper of vault {book.vault} (its keeper is {keeper})"
        )
    return chain_id
