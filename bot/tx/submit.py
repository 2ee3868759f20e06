"""One bundle from plan to the node: intent, signature, raw bytes, broadcast (IO).

The order is the exactly-once rule: the intent is journaled before anything is signed, the
signed bytes before they are broadcast, so a crash at any point leaves a journal that settling
can finish (`bot.tx.settle`). Shared by the manual rebalance and the keeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.core.errors import RpcError
from bot.core.fees import Fees
from bot.tx.journal import BROADCAST, Journal
from bot.tx.transactions import SendFailed, Signed, broadcast, is_known, receipt, sign


@dataclass(frozen=True, slots=True)
class Submitted:
    intent: int
    signed: Signed


async def submit(
    journal: Journal, run_id: int, account: LocalAccount, w3: AsyncWeb3[Any], send_w3: AsyncWeb3[Any], *,
    chain_id: int, vault: str, deadline: int, plan_json: dict[str, Any], bundle_id: bytes, calldata: bytes,
    block: int, block_hash: str, nonce: int, gas_limit: int, fees: Fees, head: int | None = None,
) -> Submitted:  # fmt: skip
    """Journal the intent, sign, journal the raw bytes, broadcast on `send_w3`.

    Raises:
        SendFailed: the node refused it (the attempt is marked refused; the intent abandoned when
            the node holds no such transaction).
        RpcError: the broadcast may not have arrived; the journal has its bytes for settling.
    """
    intent = journal.add_intent(
        run_id, fork=False, chain_id=chain_id, vault=vault, keeper=account.address, block=block,
        block_hash=block_hash, bundle_id="0x" + bundle_id.hex(), deadline=deadline,
        calldata="0x" + calldata.hex(), plan=plan_json,
    )  # fmt: skip
    signed = sign(
        account, chain_id=chain_id, to=vault, data=calldata, nonce=nonce, gas_limit=gas_limit, fees=fees
    )
    attempt = journal.add_attempt(
        intent, nonce=nonce, tx_hash=signed.tx_hash, raw=signed.raw, max_fee=fees.max_fee, tip=fees.tip,
        gas_limit=gas_limit,
    )  # fmt: skip
    try:
        await broadcast(send_w3, signed.raw, signed.tx_hash)
    except SendFailed as exc:
        journal.mark_attempt(attempt, "refused", str(exc))
        if not await is_known(w3, signed.tx_hash) and await receipt(w3, signed.tx_hash) is None:
            journal.abandon(intent, f"the node refused it: {exc}")
        raise
    except RpcError as exc:
        raise RpcError(f"transaction {signed.tx_hash}: {exc}") from None
    journal.mark_attempt(attempt, BROADCAST, block=head)
    return Submitted(intent, signed)
