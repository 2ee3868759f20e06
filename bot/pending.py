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
from typing import Any

from web3 import AsyncWeb3

from bot import rpc
from bot.errors import KeeperError
from bot.executor_ops import decode_execute
from bot.journal import Intent, Journal
from bot.realized import OpMovement, nonzero, op_movements
from bot.transactions import broadcast, is_known, nonce_of, receipt, receipt_logs


class Pending(KeeperError):
    """A transaction of the book is still pending: nothing new may be planned."""

    run_status = "waiting"


def _predicted_ops(intent: Intent) -> list[Mapping[str, Any]]:
    return list(intent.plan.get("plan", {}).get("ops", []))


def _movement_json(m: OpMovement) -> dict[str, dict[str, str]]:
    return {
        "spent": {a: str(v) for a, v in nonzero(m.spent).items()},
        "received": {a: str(v) for a, v in nonzero(m.received).items()},
    }


async def _record_receipt(w3: AsyncWeb3[Any], journal: Journal, intent: Intent, tx_hash: str) -> str:
    found = await receipt(w3, tx_hash)
    assert found is not None
    realized: dict[str, Any] = {"reconciled": True, "tx_hash": tx_hash, "success": found.success}
    matches: bool | None = None
    if found.success:
        ops, _, _ = decode_execute(bytes.fromhex(intent.calldata[2:]))
        movements = op_movements(ops, await receipt_logs(w3, tx_hash), intent.vault)
        predicted = _predicted_ops(intent)
        realized["ops"] = [_movement_json(m) for m in movements]
        matches = len(predicted) == len(movements) and all(
            {"spent": p["spent"], "received": p["received"]} == _movement_json(m)
            for p, m in zip(predicted, movements, strict=True)
        )
    journal.add_outcome(
        intent.id, tx_hash=tx_hash, block=found.block, block_hash=found.block_hash, success=found.success,
        gas_used=found.gas_used, effective_gas_price=found.effective_gas_price, matches=matches,
        realized=realized,
    )  # fmt: skip
    state = "executed" if found.success else "reverted"
    return f"intent #{intent.id}: {tx_hash} was mined in block {found.block} ({state}); recorded"


async def settle(
    w3: AsyncWeb3[Any], journal: Journal, chain_id: int, vault: str, keeper: str, now: int
) -> list[str]:
    """Resolve what can be resolved; returns what was recorded.

    Raises:
        Pending: a transaction of the book (journaled or not) is still pending; the message
            names it. A dropped one still valid has been rebroadcast first.
    """
    notes: list[str] = []
    mined_nonce = await nonce_of(w3, keeper, "latest")
    for intent in journal.unresolved(chain_id, vault):
        attempts = journal.attempts(intent.id)
        if not attempts:
            journal.abandon(intent.id, "never signed (the run ended before sending)")
            notes.append(f"intent #{intent.id}: never signed; abandoned")
            continue
        mined = [a for a in attempts if await receipt(w3, a.tx_hash) is not None]
        if mined:
            notes.append(await _record_receipt(w3, journal, intent, mined[0].tx_hash))
            continue
        latest = attempts[-1]
        for attempt in reversed(attempts):
            if await is_known(w3, attempt.tx_hash):
                raise Pending(
                    f"waiting for transaction {attempt.tx_hash} (nonce {attempt.nonce}, "
                    f"intent #{intent.id}): it is still pending; nothing new is planned until it is mined "
                    "or dropped"
                )
        if mined_nonce > latest.nonce:
            journal.abandon(intent.id, f"nonce {latest.nonce} was used by another transaction")
            notes.append(
                f"intent #{intent.id}: its nonce {latest.nonce} went to another transaction; abandoned"
            )
            continue
        if intent.deadline <= now:
            journal.abandon(intent.id, "dropped by the node and past its deadline: it could only revert")
            notes.append(f"intent #{intent.id}: dropped and past its deadline; abandoned")
            continue
        await broadcast(w3, latest.raw, latest.tx_hash)
        journal.mark_attempt(latest.id, "broadcast", "rebroadcast after it was dropped")
        raise Pending(
            f"waiting for transaction {latest.tx_hash} (nonce {latest.nonce}, intent #{intent.id}): "
            "the node had dropped it; rebroadcast from its saved raw bytes"
        )
    pending_nonce = await nonce_of(w3, keeper, "pending")
    if pending_nonce > mined_nonce:
        raise Pending(
            f"the keeper {keeper} has {pending_nonce - mined_nonce} pending transaction(s) this journal "
            f"does not know (nonces {mined_nonce}..{pending_nonce - 1}) on {rpc.provider_label(w3)}; "
            "waiting for them"
        )
    return notes
