"""The keeper's transactions after the first broadcast: replacement, reorgs (IO).

Settling (`bot.tx.settle.settle`) records receipts, rebroadcasts dropped transactions and
abandons what can never execute. On top of it, per head, the keeper:

- replaces a transaction still in the pool `replace_after_blocks` after it was broadcast:
  same nonce, same calldata, fee cap and tip both raised by at least `bump_bps` (rounded up),
  never above the book's `max_fee_gwei`, at most `max_replacements` times. Every version is
  journaled with its raw bytes before it is broadcast; whichever one is mined resolves the
  intent, and the nonce makes sure only one can be;
- checks the blocks of recently recorded outcomes: when a reorg replaced one, the intent is
  reopened (outcome deleted) so settling finds the transaction again, in its new block, in the
  pool, or dropped (then rebroadcast from its raw bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain.headers import find_header
from bot.core.book import FeePolicy
from bot.core.fees import Fees, bumped, replacement_wait
from bot.tx.journal import BROADCAST, Intent, Journal
from bot.tx.transactions import SendFailed, broadcast, market_fees, sign

log = logging.getLogger(__name__)

REORG_WINDOW_BLOCKS = 64


@dataclass(frozen=True, slots=True)
class Replacement:
    tx_hash: str
    replaced: str
    nonce: int
    fees: Fees
    previous: Fees


async def replace_if_stuck(
    w3: AsyncWeb3[Any],
    send_w3: AsyncWeb3[Any],
    journal: Journal,
    account: LocalAccount,
    intent: Intent,
    head: int,
    now: int,
    policy: FeePolicy,
) -> Replacement | None:
    """Replace the intent's latest transaction when `fees.replacement_wait` says so; None when it
    waits, or when the cap leaves no room for the bump.

    Raises:
        SendFailed: the node refused the replacement (it is journaled as refused).
    """
    attempts = journal.attempts(intent.id)
    latest = attempts[-1]
    waited = head - latest.sent_block if latest.sent_block is not None else 0
    wait = replacement_wait(
        waited, len(attempts) - 1, intent.deadline, now,
        after_blocks=policy.replace_after_blocks, max_replacements=policy.max_replacements,
    )  # fmt: skip
    if wait is not None:
        if wait.final:
            log.warning("intent #%d: %s is not replaced: %s", intent.id, latest.tx_hash, wait.reason)
        return None
    previous = Fees(latest.max_fee, latest.tip, 0)
    fees = bumped(previous, await market_fees(w3, policy), policy.bump_bps, policy.max_fee_wei)
    if fees is None:
        log.warning(
            "intent #%d: %s waited %d blocks but a +%.1f%% replacement would exceed max_fee_gwei %s",
            intent.id, latest.tx_hash, waited, policy.bump_bps / 100, policy.max_fee_gwei,
        )  # fmt: skip
        return None
    signed = sign(
        account, chain_id=intent.chain_id, to=intent.vault, data=bytes.fromhex(intent.calldata[2:]),
        nonce=latest.nonce, gas_limit=latest.gas_limit, fees=fees,
    )  # fmt: skip
    attempt = journal.add_attempt(
        intent.id, nonce=latest.nonce, tx_hash=signed.tx_hash, raw=signed.raw, max_fee=fees.max_fee,
        tip=fees.tip, gas_limit=latest.gas_limit,
    )  # fmt: skip
    try:
        await broadcast(send_w3, signed.raw, signed.tx_hash)
    except SendFailed as exc:
        journal.mark_attempt(attempt, "refused", str(exc))
        raise
    journal.mark_attempt(attempt, BROADCAST, f"replaces {latest.tx_hash}", block=head)
    return Replacement(signed.tx_hash, latest.tx_hash, latest.nonce, fees, previous)


async def reorged(w3: AsyncWeb3[Any], journal: Journal, chain_id: int, vault: str, head: int) -> list[str]:
    """Reopen the outcomes whose block a reorg replaced; returns their transaction hashes."""
    reopened = []
    for intent_id, tx_hash, block, recorded_hash in journal.recent_outcomes(
        chain_id, vault, head - REORG_WINDOW_BLOCKS
    ):
        header = await find_header(w3, block)
        # no block: the chain is now shorter than the block it was recorded in
        canonical = header.hash if header is not None else None
        if canonical == recorded_hash:
            continue
        journal.reopen(intent_id, f"block {block} ({recorded_hash}) left the chain in a reorg")
        log.warning(
            "reorg: block %d of %s left the chain; intent #%d is open again", block, tx_hash, intent_id
        )
        reopened.append(tx_hash)
    return reopened
