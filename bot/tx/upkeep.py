"""The keeper's upkeep transactions: pokes that keep the vault's own TWAP guard usable.

A guarded vault refuses a bundle on a pair it has no observation of at least its window old,
and compares spot with the TWAP since that observation: a start left long behind lags the
market and refuses honest bundles. Bundles observe the pairs they touch; a pair left alone
needs a `poke` (anyone may send one). The keeper sends one only when `VaultGuards.pokes_due`
says a pair needs it, and every poke goes the way a bundle does, minus the plan: the gas
guards (price, daily budget, balance), the nonce rule, journaled before it is broadcast, its
fee counted in the day's gas, settled on later heads (mined, reverted, or dropped when its
nonce went to another transaction).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.vault import estimate_call
from bot.core.book import Book
from bot.core.errors import Pending, RpcError
from bot.core.executor_ops import poke_calldata
from bot.core.gas_model import GasModel
from bot.core.guards import Refusal, Spending, check_spending, midnight_utc
from bot.core.planner import poke_gas
from bot.core.snapshot import PairSnapshot
from bot.core.vault_guards import VaultGuards
from bot.tx.journal import UPKEEP_DROPPED, UPKEEP_MINED, UPKEEP_REVERTED, Journal
from bot.tx.transactions import (
    GasTooExpensive,
    SendFailed,
    broadcast,
    current_fees,
    is_known,
    native_balance,
    nonce_of,
    receipt,
    sign,
)


@dataclass(frozen=True, slots=True)
class Poked:
    """A poke journaled and broadcast."""

    tx_hash: str
    pairs: tuple[str, ...]  # by the book's names
    nonce: int
    gas_limit: int
    predicted_gas: int  # the gas model's figure for it
    max_fee_wei: int  # the most it may cost


async def settle_upkeep(
    reader: AsyncWeb3[Any], sender: AsyncWeb3[Any], journal: Journal, chain_id: int, vault: str, keeper: str
) -> None:
    """Record what the journal's open pokes did (one the node lost is broadcast again from its
    journaled bytes; one whose nonce went elsewhere is dropped)."""
    open_pokes = journal.open_upkeep(chain_id, vault)
    if not open_pokes:
        return
    mined_nonce = await nonce_of(reader, keeper, "latest")
    for poke in open_pokes:
        mined = await receipt(reader, poke.tx_hash)
        if mined is not None:
            status = UPKEEP_MINED if mined.success else UPKEEP_REVERTED
            journal.settle_upkeep(poke.id, status, mined.block, mined.gas_used * mined.effective_gas_price)
        elif mined_nonce > poke.nonce:  # its nonce went to another transaction
            journal.settle_upkeep(poke.id, UPKEEP_DROPPED)
        else:
            if not await is_known(reader, poke.tx_hash):
                try:
                    await broadcast(sender, poke.raw, poke.tx_hash)
                except SendFailed:
                    journal.settle_upkeep(poke.id, UPKEEP_DROPPED)


async def poke(
    reader: AsyncWeb3[Any],
    sender: AsyncWeb3[Any],
    journal: Journal,
    account: LocalAccount,
    book: Book,
    chain_id: int,
    pairs: Sequence[PairSnapshot],
    guards: VaultGuards,
    gas_model: GasModel | None = None,
) -> Poked | Refusal:
    """Poke `pairs` from the keeper key, or the gas guard that refuses it (nothing sent).

    Raises:
        Pending: the keeper has a transaction pending (nothing sent).
        BundleReverted: the vault refuses the poke (a pair off its allowlist).
        SendFailed: the node refused it (journaled; settling drops it).
        RpcError: the node failed before the broadcast (nothing sent), or during it (journaled:
            settling finds out).
    """
    keeper = account.address
    data = poke_calldata([p.address for p in pairs])
    try:
        fees = await current_fees(reader, book.fees)
    except GasTooExpensive as exc:
        return Refusal("max_fee", str(exc))
    estimate = await estimate_call(reader, book.vault, keeper, data)
    gas_limit = estimate * (10_000 + book.fees.gas_margin_bps) // 10_000
    max_fee_wei = gas_limit * fees.max_fee
    spending = Spending(
        next_base_fee=fees.next_base_fee,
        gas_cost=max_fee_wei,
        spent_today=journal.gas_spent_since(chain_id, book.vault, midnight_utc(time.time())),
        keeper_balance=await native_balance(reader, keeper),
    )
    refusal = check_spending(book.guards, spending)
    if refusal is not None:
        return refusal
    nonce = await nonce_of(reader, keeper, "latest")
    if await nonce_of(reader, keeper, "pending") != nonce:
        raise Pending(f"the keeper {keeper} has a transaction pending; no poke sent")
    signed = sign(
        account, chain_id=chain_id, to=book.vault, data=data, nonce=nonce, gas_limit=gas_limit, fees=fees
    )
    by_address = {address: name for name, address in book.pairs.items()}
    names = tuple(by_address.get(p.address, p.name) for p in pairs)
    predicted = poke_gas(guards, [p.address for p in pairs], gas_model or GasModel())
    detail = {"pairs": list(names), "gas_limit": gas_limit, "predicted_gas": predicted}
    journal.add_upkeep(
        chain_id, book.vault, keeper, "poke", detail, nonce=nonce, tx_hash=signed.tx_hash, raw=signed.raw,
        max_fee_wei=max_fee_wei,
    )  # fmt: skip
    try:
        await broadcast(sender, signed.raw, signed.tx_hash)
    except RpcError as exc:
        raise RpcError(
            f"the poke's broadcast may not have reached {rpc.provider_label(sender)} ({exc}); its bytes are "
            "journaled: settling finds out"
        ) from None
    return Poked(signed.tx_hash, names, nonce, gas_limit, predicted, max_fee_wei)
