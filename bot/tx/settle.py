"""Before planning: settle what the journal says was sent, and refuse while anything is pending.

For each unresolved intent of the vault, the chain decides: a receipt of any of its attempts
resolves it (the outcome is recorded from the receipt's logs); a transaction the node still
holds means wait; a nonce that another transaction used abandons it; a dropped transaction
whose deadline has not passed is rebroadcast from its saved raw bytes (and waited for), one
past its deadline is abandoned (it could only revert). Transactions of the keeper that the
journal does not know also block planning: their nonces are taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.core.errors import BadInput, Pending, RpcError, StillPending
from bot.core.executor_ops import decode_execute
from bot.core.outcome import Receipt
from bot.core.realized import OpMovement, nonzero, op_matches, op_movements
from bot.tx.journal import ABANDONED, EXECUTED, REVERTED, Intent, Journal
from bot.tx.tax_journal import with_tax
from bot.tx.transactions import SendFailed, broadcast, head, is_known, nonce_of, receipt, receipt_logs


@dataclass(frozen=True, slots=True)
class Settled:
    """What settling did to one intent: `status` is the journal's new status for it."""

    intent_id: int
    status: str
    text: str

    def __str__(self) -> str:
        return self.text


def _predicted_ops(intent: Intent) -> list[Mapping[str, Any]]:
    return list(intent.plan.get("plan", {}).get("ops", []))


def _movement_json(m: OpMovement) -> dict[str, dict[str, str]]:
    return {
        "spent": {a: str(v) for a, v in nonzero(m.spent).items()},
        "received": {a: str(v) for a, v in nonzero(m.received).items()},
    }


async def _record_receipt(w3: AsyncWeb3[Any], journal: Journal, intent: Intent, found: Receipt) -> Settled:
    realized: dict[str, Any] = {"reconciled": True, "tx_hash": found.tx_hash, "success": found.success}
    matches: bool | None = None
    if found.success:
        try:
            ops, _, _ = decode_execute(bytes.fromhex(intent.calldata[2:]))
            movements = op_movements(ops, await receipt_logs(w3, found.tx_hash), intent.vault)
        except (BadInput, RpcError) as exc:  # recorded all the same: the transaction is mined
            realized["error"] = f"the receipt's logs could not be read per op: {exc}"
        else:
            predicted = _predicted_ops(intent)
            realized["ops"] = [_movement_json(m) for m in movements]
            matches = len(predicted) == len(movements) and all(
                op_matches(_amounts(p["spent"]), _amounts(p["received"]), m)
                for p, m in zip(predicted, movements, strict=True)
            )
    realized = with_tax(journal, intent.chain_id, intent.vault, intent.id, intent.plan, realized)
    journal.add_outcome(intent.id, found, matches=matches, realized=realized)
    state = EXECUTED if found.success else REVERTED
    return Settled(
        intent.id,
        state,
        f"intent #{intent.id}: {found.tx_hash} was mined in block {found.block} ({state}); recorded",
    )


def _amounts(raw: Mapping[str, str]) -> dict[str, int]:
    return {a: int(v) for a, v in raw.items()}


async def settle(
    w3: AsyncWeb3[Any], journal: Journal, chain_id: int, vault: str, keeper: str, now: int,
    confirmations: int = 1, act: bool = True, send_w3: AsyncWeb3[Any] | None = None,
) -> list[Settled]:  # fmt: skip
    """Resolve what can be resolved; returns what was recorded (or, without `act`, what would be).

    Args:
        confirmations: a receipt counts once this many blocks include it (1: its own block).
        act: record outcomes and abandonments and rebroadcast dropped transactions; without it
            (a dry-run) nothing is written or sent, and anything unresolved blocks as pending.
        send_w3: where rebroadcasts go (default: `w3`).

    Raises:
        Pending: a transaction of the book (journaled or not) is still pending; the message
            names it. A dropped one still valid has been rebroadcast first. `StillPending` when
            a journaled transaction is in the node's pool (the keeper may replace it).
    """
    notes: list[Settled] = []
    head_block = await head(w3)
    for intent in journal.unresolved(chain_id, vault):
        attempts = journal.attempts(intent.id)
        if not attempts:
            if act:
                journal.abandon(intent.id, "never signed (the run ended before sending)")
            notes.append(Settled(intent.id, ABANDONED, f"intent #{intent.id}: never signed; abandoned"))
            continue
        found = None
        for attempt in attempts:
            found = await receipt(w3, attempt.tx_hash)
            if found is not None:
                break
        if found is not None:
            depth = head_block - found.block + 1
            if depth < confirmations:
                raise Pending(
                    f"waiting for transaction {found.tx_hash} (intent #{intent.id}): mined in block "
                    f"{found.block}, {depth} of {confirmations} confirmations"
                )
            if not act:
                raise Pending(
                    f"intent #{intent.id} ({found.tx_hash}) is mined but not yet recorded: "
                    "run without --dry-run"
                )
            notes.append(await _record_receipt(w3, journal, intent, found))
            continue
        latest = attempts[-1]
        for attempt in reversed(attempts):
            if await is_known(w3, attempt.tx_hash):
                raise StillPending(
                    f"waiting for transaction {attempt.tx_hash} (nonce {attempt.nonce}, "
                    f"intent #{intent.id}): it is still pending; nothing new is planned until it is mined "
                    "or dropped",
                    intent.id,
                )
        if await nonce_of(w3, intent.keeper, "latest") > latest.nonce:
            note = f"nonce {latest.nonce} was used by another transaction"
            if act:
                journal.abandon(intent.id, note)
            notes.append(Settled(intent.id, ABANDONED, f"intent #{intent.id}: its {note}; abandoned"))
            continue
        if intent.deadline <= now:
            if act:
                journal.abandon(intent.id, "dropped by the node and past its deadline: it could only revert")
            notes.append(
                Settled(
                    intent.id, ABANDONED, f"intent #{intent.id}: dropped and past its deadline; abandoned"
                )
            )
            continue
        if not act:
            raise Pending(
                f"transaction {latest.tx_hash} (intent #{intent.id}) was dropped and is still valid: a run "
                "without --dry-run rebroadcasts it"
            )
        try:
            await broadcast(send_w3 or w3, latest.raw, latest.tx_hash)
        except SendFailed as exc:  # underpriced now (a node drops what the base fee priced out)
            raise StillPending(
                f"transaction {latest.tx_hash} (intent #{intent.id}) was dropped and the node refuses it "
                f"again ({exc}): it needs a replacement with higher fees",
                intent.id,
            ) from None
        except RpcError as exc:  # transient: the bytes stay journaled, the next head or run tries again
            raise Pending(
                f"the rebroadcast of {latest.tx_hash} failed: {exc}; the next run tries again"
            ) from None
        journal.mark_attempt(latest.id, "broadcast", "rebroadcast after it was dropped", block=head_block)
        raise Pending(
            f"waiting for transaction {latest.tx_hash} (nonce {latest.nonce}, intent #{intent.id}): "
            "the node had dropped it; rebroadcast from its saved raw bytes"
        )
    mined_nonce = await nonce_of(w3, keeper, "latest")
    pending_nonce = await nonce_of(w3, keeper, "pending")
    if pending_nonce > mined_nonce:
        raise Pending(
            f"the keeper {keeper} has {pending_nonce - mined_nonce} pending transaction(s) this journal "
            f"does not know (nonces {mined_nonce}..{pending_nonce - 1}) on {rpc.provider_label(w3)}; "
            "waiting for them"
        )
    return notes
