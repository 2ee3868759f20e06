"""The tax ledger's history from the journal: its transfers and executed bundles as ledger events,
and the realized gains an outcome records.

A bundle is priced as its intent recorded it (`quotes`, the plan's block and time), with the
movements its receipt showed; its tax rules are the `[tax]` the intent was planned under.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from bot.core.book import Moment, Tax
from bot.core.errors import KeeperError
from bot.core.tax_ledger import (
    AssetInfo,
    Bundle,
    Event,
    OpFlow,
    Quote,
    TaxRules,
    gains,
    ordered_events,
)
from bot.report.tax_report import disposals_json, gains_json
from bot.tx.journal import Journal


class LedgerHistoryError(KeeperError):
    """The journal lacks what the ledger needs of a bundle (its prices, or its movements)."""


def exact(text: str) -> Fraction:
    return Fraction(Decimal(text))


def _amounts(raw: Mapping[str, str]) -> dict[str, int]:
    return {a: int(v) for a, v in raw.items()}


def bundle_event(
    intent_id: int, tx_hash: str, block: int, plan: Mapping[str, Any], realized: Mapping[str, Any]
) -> Bundle:
    """A bundle as the ledger sees it: the intent's prices and op kinds, the receipt's movements.

    Raises:
        LedgerHistoryError: the intent predates ledger prices, or the outcome has no movements.
    """
    quotes = plan.get("quotes")
    if not isinstance(quotes, dict) or "timestamp" not in plan:
        raise LedgerHistoryError(
            f"bundle #{intent_id} ({tx_hash}) was journaled before ammkeeper recorded ledger prices"
        )
    kinds = [op["kind"] for op in plan.get("plan", {}).get("ops", [])]
    ops = realized.get("ops")
    if not isinstance(ops, list) or len(ops) != len(kinds):
        raise LedgerHistoryError(
            f"bundle #{intent_id} ({tx_hash}): its receipt's movements are not journaled"
        )
    flows = []
    for kind, op in zip(kinds, ops, strict=True):
        moved = op.get("realized", op)
        flows.append(OpFlow(kind, _amounts(moved["spent"]), _amounts(moved["received"])))
    return Bundle(
        intent_id,
        tx_hash,
        block,
        Moment(int(plan["block"]), int(plan["timestamp"])),
        tuple(flows),
        {a: Quote(exact(q["price"]), q["source"]) for a, q in quotes.items()},
    )


class JournalEvents:
    """The journal's ledger events, each bundle's records parsed once (a keeper reads them on every
    head; a bundle's records do not change once its outcome is journaled, unless a reorg reopens it)."""

    def __init__(self) -> None:
        self._bundles: dict[tuple[int, str, int], Bundle] = {}

    def events(
        self, journal: Journal, chain_id: int, vault: str, before_intent: int | None = None
    ) -> list[Event]:
        """The vault's journaled deposits, withdrawals and executed bundles, in ledger order."""
        keys = [k for k in journal.executed_bundle_keys(chain_id, vault) if k[0] != before_intent]
        missing = [k for k in keys if k not in self._bundles]
        if missing:
            for b in journal.executed_bundles(chain_id, vault, only=[k[0] for k in missing]):
                self._bundles[(b.intent_id, b.tx_hash, b.block)] = bundle_event(
                    b.intent_id, b.tx_hash, b.block, b.plan, b.realized
                )
        for gone in set(self._bundles) - set(keys):
            del self._bundles[gone]
        transfers = journal.transfers(chain_id, vault)
        return ordered_events(transfers, [self._bundles[k] for k in keys])


def journal_events(
    journal: Journal, chain_id: int, vault: str, before_intent: int | None = None
) -> list[Event]:
    """The vault's journaled deposits, withdrawals and executed bundles, in ledger order."""
    return JournalEvents().events(journal, chain_id, vault, before_intent)


def plan_rules(plan: Mapping[str, Any]) -> TaxRules | None:
    """The tax rules an intent was planned under (None: its book had no `[tax]`)."""
    settings = plan.get("tax_settings")
    if settings is None:
        return None
    assets = {a: AssetInfo(i["symbol"], int(i["decimals"])) for a, i in plan.get("assets", {}).items()}
    return TaxRules(Tax.model_validate(settings), assets)


def realized_tax(
    journal: Journal,
    chain_id: int,
    vault: str,
    intent_id: int,
    plan: Mapping[str, Any],
    realized: Mapping[str, Any],
) -> dict[str, Any] | None:
    """What an executed bundle realized, for its outcome record: its sales lot by lot and net gains
    by term, on the ledger of everything the journal held before it (None: no `[tax]`)."""
    rules = plan_rules(plan)
    if rules is None or not realized.get("success", True):
        return None
    try:
        events = journal_events(journal, chain_id, vault, before_intent=intent_id)
        bundle = bundle_event(
            intent_id, str(realized.get("tx_hash", "")), int(plan["block"]) + 1, plan, realized
        )
        block = bundle.at.block
        replay = rules.replay(e for e in events if _block_of(e) <= block)
        _, applied = rules.apply(replay.ledger, bundle)
    except KeeperError as exc:  # recorded all the same: the transaction is mined
        return {"error": f"the realized gains could not be computed: {exc}"}
    return {
        "gains": gains_json(gains(applied.disposals)),
        "disposals": disposals_json(applied.disposals, rules),
    }


def _block_of(event: Event) -> int:
    return event.block if isinstance(event, Bundle) else event.at.block


def with_tax(
    journal: Journal,
    chain_id: int,
    vault: str,
    intent_id: int,
    plan: Mapping[str, Any],
    realized: dict[str, Any],
) -> dict[str, Any]:
    """`realized` with the bundle's realized gains under "tax" (when its book has `[tax]`)."""
    tax = realized_tax(journal, chain_id, vault, intent_id, plan, realized)
    return realized if tax is None else {**realized, "tax": tax}
