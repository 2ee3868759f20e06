"""The book's tax ledger at a head: the vault's transfers found on chain (journaled, priced at
their block), the journal's bundles, and the planner's view of them (orchestration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.history import scan_logs
from bot.chain.snapshot_reader import SnapshotReader
from bot.core.book import Book, Moment
from bot.core.errors import BadInput, KeeperError
from bot.core.tax_ledger import (
    Bundle,
    Replay,
    TaxRules,
    gains,
    ordered_events,
    view_quotes,
    view_rules,
    year_of,
)
from bot.core.tax_lots import Disposal
from bot.core.tax_plan import TaxContext
from bot.core.transfer_logs import VaultTransfer, queries, vault_transfers
from bot.core.units import decimal_text
from bot.core.valuation import BookView, value_book
from bot.report.tax_report import BundleFacts
from bot.tx.journal import Journal, TransferRow
from bot.tx.tax_journal import journal_events, transfer_event


class Unpriced(KeeperError):
    """A transfer of an asset the book cannot price at its block."""


async def priced(w3: AsyncWeb3[Any], book: Book, found: Sequence[VaultTransfer]) -> list[TransferRow]:
    """Each transfer with its asset's price at its block (the book read there: an archive read)."""
    reader = SnapshotReader(w3)
    pairs = list(book.pairs.values())
    tokens = [t.address for t in book.tokens.values()]
    rows = []
    by_block: dict[int, tuple[int, dict[str, Any]]] = {}
    for t in found:
        if t.block not in by_block:
            snapshot = await reader.read(pairs, book.vault, tokens, t.block)
            if snapshot.errors:
                raise snapshot.errors[0]
            quotes = view_quotes(value_book(book, snapshot))
            by_block[t.block] = (snapshot.block_timestamp, dict(quotes))
        timestamp, quotes = by_block[t.block]
        quote = quotes.get(t.asset)
        if quote is None:
            raise Unpriced(f"{t.kind} {t.tx_hash}: {t.asset} has no price at block {t.block}")
        price = decimal_text(quote.price)
        assert price is not None
        rows.append(
            TransferRow(
                t.tx_hash, t.log_index, t.kind, t.asset, t.amount, t.block, timestamp, price, quote.source
            )
        )
    return rows


async def sync_transfers(
    w3: AsyncWeb3[Any], book: Book, chain_id: int, upto: int, journal: Journal | None
) -> list[TransferRow]:
    """The vault's deposits and withdrawals through block `upto`: journaled ones, and the chain
    scanned from where the journal stopped (from `[tax] start_block` without a journal)."""
    assert book.tax is not None
    start = book.tax.start_block
    if journal is not None:
        scanned = journal.transfers_scanned_to(chain_id, book.vault)
        start = start if scanned is None else max(start, scanned + 1)
    found: list[TransferRow] = []
    assets = [*(t.address for t in book.tokens.values()), *book.pairs.values()]

    async def keep(logs: list[dict[str, Any]], last: int) -> None:
        rows = await priced(w3, book, vault_transfers(logs, book.vault))
        if journal is not None:
            journal.add_transfers(chain_id, book.vault, rows, last)
        else:
            found.extend(rows)

    if start <= upto:
        await scan_logs(w3, queries(book.vault, assets), start, upto, keep, "in the journal")
    if journal is None:
        return found
    return [r for r in journal.transfers(chain_id, book.vault) if r.block <= upto]


async def replay_at(
    w3: AsyncWeb3[Any], book: Book, view: BookView, journal: Journal | None
) -> tuple[TaxRules, Replay]:
    """The ledger as of the view's block: every transfer confirmed by then and every journaled bundle."""
    chain_id = view.snapshot.chain_id
    upto = view.now.block - book.fees.confirmations + 1
    rows = await sync_transfers(w3, book, chain_id, upto, journal)
    rules = view_rules(view)
    if journal is None:
        events = ordered_events([transfer_event(r) for r in rows], [])
    else:
        # bundles are journaled once settled; transfers count once confirmed
        events = [
            e
            for e in journal_events(journal, chain_id, book.vault)
            if isinstance(e, Bundle) or e.at.block <= upto
        ]
    return rules, rules.replay(events)


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


def year_disposals(replay: Replay, year: int) -> list[Disposal]:
    return [d for d in replay.disposals if year_of(d.sold) == year]


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
        snapshot = await SnapshotReader(w3).read(
            list(book.pairs.values()), book.vault, [t.address for t in book.tokens.values()], "latest"
        )
        if book.chain_id is not None and snapshot.chain_id != book.chain_id:
            raise BadInput(f"the RPC serves chain {snapshot.chain_id}; the book is for chain {book.chain_id}")
        if snapshot.errors:
            raise snapshot.errors[0]
        view = value_book(book, snapshot)
        rules, replay = await replay_at(w3, book, view, journal)
    facts: dict[int, BundleFacts] = {}
    if journal is not None:
        for b in journal.executed_bundles(snapshot.chain_id, book.vault):
            before = {a: int(n) for a, n in b.plan.get("balances", {}).items()}
            facts[b.intent_id] = BundleFacts(b.fee_wei, book.dex.native, before)
    return TaxBook(rules, replay, view, facts)
