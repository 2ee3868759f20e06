"""The book's tax ledger at a head: the vault's transfers found on chain (journaled, priced at
their block), the journal's bundles, and the planner's view of them (orchestration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.history import scan_logs
from bot.chain.snapshot_reader import read_book
from bot.core.book import Book, Moment
from bot.core.errors import BadInput, KeeperError, RpcError
from bot.core.snapshot import Snapshot
from bot.core.tax_ledger import (
    OPENING,
    Bundle,
    Event,
    Quote,
    Replay,
    TaxRules,
    Transfer,
    gains,
    ordered_events,
    view_quotes,
    view_rules,
    year_of,
)
from bot.core.tax_lots import Ledger
from bot.core.tax_plan import TaxContext
from bot.core.transfer_logs import VaultTransfer, queries, vault_transfers
from bot.core.valuation import BookView, value_book
from bot.report.tax_report import BundleFacts
from bot.tx.journal import Journal
from bot.tx.replace import REORG_WINDOW_BLOCKS
from bot.tx.tax_journal import JournalEvents


class Unpriced(KeeperError):
    """A transfer of an asset the book cannot price at its block."""


async def _quotes_at(
    w3: AsyncWeb3[Any], book: Book, block: int, why: str
) -> tuple[Snapshot, dict[str, Quote]]:
    """The book read at `block` (an archive read) and the ledger's prices there.

    Raises:
        BadInput: the node no longer keeps that block's state.
    """
    try:
        snapshot = await read_book(w3, book, block)
    except RpcError as exc:
        if not rpc.HISTORY_GONE.search(str(exc)):
            raise
        raise BadInput(
            f"{why} needs the book's prices at block {block}, and {rpc.provider_label(w3)} no longer keeps "
            "that state: use an archive node, or set [tax] start_block to a block it keeps (the vault's "
            "holdings there open the ledger)"
        ) from None
    return snapshot, view_quotes(value_book(book, snapshot))


async def priced(w3: AsyncWeb3[Any], book: Book, found: Sequence[VaultTransfer]) -> list[Transfer]:
    """Each transfer with its asset's price at its block."""
    rows = []
    by_block: dict[int, tuple[int, dict[str, Quote]]] = {}
    for t in found:
        if t.block not in by_block:
            snapshot, quotes = await _quotes_at(w3, book, t.block, f"the {t.kind} {t.tx_hash}")
            by_block[t.block] = (snapshot.block_timestamp, quotes)
        timestamp, quotes = by_block[t.block]
        quote = quotes.get(t.asset)
        if quote is None:
            raise Unpriced(f"{t.kind} {t.tx_hash}: {t.asset} has no price at block {t.block}")
        rows.append(
            Transfer(t.kind, t.asset, t.amount, Moment(t.block, timestamp), t.tx_hash, t.log_index, quote)
        )
    return rows


async def opening(w3: AsyncWeb3[Any], book: Book, block: int) -> list[Transfer]:
    """The vault's holdings at `block` as deposits there (`[tax] start_block`: the ledger opens
    with them, priced at that block, unless the owner gives their basis)."""
    snapshot, quotes = await _quotes_at(w3, book, block, "the opening balance ([tax] start_block)")
    held = {t.address: snapshot.balances.get(t.address, 0) for t in book.tokens.values()}
    held.update({p.address: p.holder_lp for p in snapshot.pairs})
    at = Moment(block, snapshot.block_timestamp)
    return [
        Transfer("deposit", asset, amount, at, OPENING, i, quotes[asset])
        for i, (asset, amount) in enumerate(sorted(held.items()))
        if amount > 0 and asset in quotes
    ]


async def sync_transfers(
    w3: AsyncWeb3[Any], book: Book, chain_id: int, upto: int, journal: Journal | None
) -> list[Transfer]:
    """The vault's deposits and withdrawals through block `upto`: journaled ones, and the chain
    scanned from where the journal stopped. A first scan from `[tax] start_block` > 0 opens the
    ledger with the vault's holdings at that block."""
    assert book.tax is not None
    first = book.tax.start_block
    scanned = journal.transfers_scanned_to(chain_id, book.vault) if journal is not None else None
    found: list[Transfer] = []
    start = first if scanned is None else max(first, scanned + 1)
    if scanned is None and first > 0 and first <= upto:
        rows = await opening(w3, book, first)
        if journal is not None:
            journal.add_transfers(chain_id, book.vault, rows, first)
        else:
            found += rows
        start = first + 1

    async def keep(logs: list[dict[str, Any]], last: int) -> None:
        rows = await priced(w3, book, vault_transfers(logs, book.vault))
        if journal is not None:
            journal.add_transfers(chain_id, book.vault, rows, last)
        else:
            found.extend(rows)

    if journal is not None and scanned is not None:
        await _recheck(w3, book, chain_id, journal, max(start - REORG_WINDOW_BLOCKS, first + 1), start - 1)
    if start <= upto:
        await scan_logs(w3, queries(book.vault, _assets(book)), start, upto, keep, "kept in the journal")
    if journal is None:
        return found
    return [r for r in journal.transfers(chain_id, book.vault) if r.at.block <= upto]


def _assets(book: Book) -> list[str]:
    """The book's tokens and LP tokens: what may move into or out of the vault."""
    return [*(t.address for t in book.tokens.values()), *book.pairs.values()]


async def _recheck(
    w3: AsyncWeb3[Any], book: Book, chain_id: int, journal: Journal, start: int, end: int
) -> None:
    """Scan the last blocks already scanned again: a reorg may have taken a journaled transfer off
    the chain (forgotten) or put another on it (priced and added); the rest stay as they are."""
    if start > end:
        return
    seen: list[VaultTransfer] = []

    async def keep(logs: list[dict[str, Any]], last: int) -> None:
        seen.extend(vault_transfers(logs, book.vault))

    await scan_logs(w3, queries(book.vault, _assets(book)), start, end, keep, "kept in the journal")
    known = {
        (r.tx_hash, r.log_index)
        for r in journal.transfers(chain_id, book.vault)
        if start <= r.at.block <= end
    }
    new = [t for t in seen if (t.tx_hash, t.log_index) not in known]
    journal.replace_transfers(
        chain_id,
        book.vault,
        start,
        end,
        {(t.tx_hash, t.log_index) for t in seen},
        await priced(w3, book, new),
    )


class LedgerCache:
    """One book's ledger kept between heads: the journal's parsed events, and the replay of them,
    extended by what is new when the events so far are unchanged (else replayed from the start)."""

    def __init__(self) -> None:
        self.journal_events = JournalEvents()
        self._rules: TaxRules | None = None
        self._events: list[Event] = []
        self._replay = Replay(Ledger())

    def replay(self, rules: TaxRules, events: list[Event]) -> Replay:
        done = len(self._events)
        if rules != self._rules or events[:done] != self._events:
            self._rules, self._events, self._replay = rules, [], Replay(Ledger())
            done = 0
        more = rules.replay(events[done:], self._replay.ledger)
        self._replay = Replay(more.ledger, self._replay.applied + more.applied)
        self._events = list(events)
        return self._replay


_CACHES: dict[tuple[str, int, str], LedgerCache] = {}


def ledger_cache(journal: Journal, chain_id: int, vault: str) -> LedgerCache:
    """The process's cache of one book's ledger (by journal file, chain and vault)."""
    return _CACHES.setdefault((str(journal.path), chain_id, vault), LedgerCache())


async def replay_at(
    w3: AsyncWeb3[Any], book: Book, view: BookView, journal: Journal | None
) -> tuple[TaxRules, Replay]:
    """The ledger as of the view's block: every transfer confirmed by then and every journaled bundle."""
    chain_id = view.snapshot.chain_id
    upto = view.now.block - book.fees.confirmations + 1
    rows = await sync_transfers(w3, book, chain_id, upto, journal)
    rules = view_rules(view)
    if journal is None:
        return rules, rules.replay(ordered_events(rows, []))
    cache = ledger_cache(journal, chain_id, book.vault)
    # bundles are journaled once settled; transfers count once confirmed
    events = [
        e
        for e in cache.journal_events.events(journal, chain_id, book.vault)
        if isinstance(e, Bundle) or e.at.block <= upto
    ]
    return rules, cache.replay(rules, events)


def context(rules: TaxRules, replay: Replay, now: Moment) -> TaxContext:
    """What the planner needs: the open lots, this year's realized gains, the last loss sales."""
    year = year_of(now)
    disposals = replay.disposals
    loss_sales: dict[str, Moment] = {}
    for d in disposals:
        if d.gain < 0:
            loss_sales[d.asset] = max(loss_sales.get(d.asset, d.sold), d.sold, key=lambda m: m.timestamp)
    return TaxContext(rules, replay.ledger, year, gains(disposals, year), loss_sales)


async def tax_context(
    w3: AsyncWeb3[Any], book: Book, view: BookView, journal: Journal | None
) -> TaxContext | None:
    """The planner's tax context at the view (None: the book has no `[tax]`)."""
    if book.tax is None:
        return None
    rules, replay = await replay_at(w3, book, view, journal)
    return context(rules, replay, view.now)


@dataclass(frozen=True, slots=True)
class TaxBook:
    """The book's ledger now: its rules, every event applied, the view it was priced at, and
    what the journal says of each bundle beyond the ledger (fees, balances before)."""

    rules: TaxRules
    replay: Replay
    view: BookView
    facts: Mapping[int, BundleFacts]


async def read_tax_book(book: Book, urls: str | Sequence[str], journal: Journal | None) -> TaxBook:
    """Sync the vault's transfers and replay the ledger at the chain's head.

    Raises:
        BadInput: the node serves another chain, or the book cannot be read.
        RpcError: the node failed (what was scanned is kept in the journal).
        LedgerShort / LedgerHistoryError: the history does not add up (named).
    """
    async with rpc.connect(urls, book=book) as w3:
        snapshot = await read_book(w3, book, "latest")
        view = value_book(book, snapshot)
        rules, replay = await replay_at(w3, book, view, journal)
    facts: dict[int, BundleFacts] = {}
    if journal is not None:
        for b in journal.executed_bundles(snapshot.chain_id, book.vault):
            before = {a: int(n) for a, n in b.plan.get("balances", {}).items()}
            facts[b.intent_id] = BundleFacts(b.fee_wei, book.dex.native, before)
    return TaxBook(rules, replay, view, facts)
