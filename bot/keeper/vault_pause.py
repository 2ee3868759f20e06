"""The vault's own pause, sent with the keeper key (`ammkeeper pause --on-chain`, the dashboard)."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain.vault import PAUSE_CALLDATA, estimate_pause, vault_paused
from bot.core.book import Book
from bot.core.errors import KeeperError, Pending
from bot.keeper.planning import checked_keeper
from bot.tx.transactions import broadcast, current_fees, nonce_of, sign, wait_for_receipt


async def pause_vault(
    w3: AsyncWeb3[Any], send_w3: AsyncWeb3[Any], book: Book, account: LocalAccount, wait: bool = True
) -> str | None:
    """Send `pause()` to the vault from the keeper key; its hash (mined when `wait`), or None when the
    vault is paused already. Only the vault's owner can unpause it.

    Raises:
        BadInput: the key is not the vault's keeper (or the chain is not the book's).
        Pending: the keeper has a transaction pending (a bundle in flight): nothing sent.
        KeeperError: the pause reverted.
    """
    chain_id = await checked_keeper(w3, book, account)
    if await vault_paused(w3, book.vault):
        return None
    keeper = account.address
    nonce = await nonce_of(w3, keeper, "latest")
    if await nonce_of(w3, keeper, "pending") != nonce:
        raise Pending(f"the keeper {keeper} has a transaction pending; nothing sent: the kill switch is on")
    fees = await current_fees(w3, book.fees)
    gas = await estimate_pause(w3, book.vault, keeper)
    gas_limit = gas * (10_000 + book.fees.gas_margin_bps) // 10_000
    signed = sign(
        account,
        chain_id=chain_id,
        to=book.vault,
        data=PAUSE_CALLDATA,
        nonce=nonce,
        gas_limit=gas_limit,
        fees=fees,
    )
    await broadcast(send_w3, signed.raw, signed.tx_hash)
    if wait:
        mined = await wait_for_receipt(w3, signed.tx_hash, book.fees.confirmations, timeout_s=600.0)
        if not mined.success:
            raise KeeperError(f"pause() reverted in {signed.tx_hash}")
    return signed.tx_hash
