"""`ammkeeper pause` and `resume`: the kill switch, a flag file beside the book; `pause --on-chain`
also pauses the vault itself with the keeper key (only the vault's owner can unpause it)."""

from __future__ import annotations

import argparse
import asyncio

from eth_account.signers.local import LocalAccount

from bot.chain import endpoints, rpc
from bot.chain.vault import PAUSE_CALLDATA, estimate_pause, vault_paused
from bot.cli import options
from bot.core.book import Book
from bot.core.errors import KeeperError, Pending
from bot.keeper.planning import checked_keeper
from bot.ops import kill_switch
from bot.tx.transactions import broadcast, current_fees, nonce_of, sign, wait_for_receipt


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    pause = sub.add_parser(
        "pause", parents=[common], help="turn the kill switch on: a running keeper sends nothing"
    )
    options.add_book(pause)
    pause.add_argument("--reason", default="paused by hand", help="why (shown in logs and /healthz)")
    pause.add_argument(
        "--on-chain",
        action="store_true",
        help="also pause the vault itself with the keeper key (only the owner can unpause it)",
    )
    options.add_rpc(pause)
    options.add_keystore(pause)
    pause.set_defaults(func=pause_command)
    resume = sub.add_parser(
        "resume", parents=[common], help="turn the kill switch off (and reset a tripped circuit breaker)"
    )
    options.add_book(resume)
    resume.set_defaults(func=resume_command)


def pause_command(args: argparse.Namespace) -> int:
    book = Book.load(args.config)
    path = kill_switch.pause_path(args.config, book)
    kill_switch.pause(path, args.reason)  # first: a running keeper stops at its next head
    print(f"paused: {path} (a running keeper sends nothing until `ammkeeper resume --config {args.config}`)")
    if not args.on_chain:
        return 0
    account = options.load_key(args)
    ends = endpoints.resolve(book, args.rpc)
    tx_hash = asyncio.run(_pause_vault(ends, book, account))
    if tx_hash is None:
        print(f"vault {book.vault} was already paused on-chain")
    else:
        print(f"vault {book.vault} paused on-chain by {account.address} in {tx_hash}")
        print("only the vault's owner can unpause it (unpause() from the owner key)")
    return 0


async def _pause_vault(ends: endpoints.Endpoints, book: Book, account: LocalAccount) -> str | None:
    """Send `pause()` to the vault from the keeper key; its hash once mined (None: already paused).

    Raises:
        BadInput: the key is not the vault's keeper (or the chain is not the book's).
        Pending: the keeper has a transaction pending (a bundle in flight): nothing sent.
        KeeperError: the pause reverted.
    """
    async with (
        rpc.connect(ends.calls, book=book) as w3,
        rpc.connect(ends.sends, name="send", book=book) as send_w3,
    ):
        chain_id = await checked_keeper(w3, book, account)
        if await vault_paused(w3, book.vault):
            return None
        keeper = account.address
        nonce = await nonce_of(w3, keeper, "latest")
        if await nonce_of(w3, keeper, "pending") != nonce:
            raise Pending(
                f"the keeper {keeper} has a transaction pending; nothing sent: the kill switch is on"
            )
        fees = await current_fees(w3, book.fees)
        gas = await estimate_pause(w3, book.vault, keeper)
        gas_limit = gas * (10_000 + book.fees.gas_margin_bps) // 10_000
        signed = sign(
            account, chain_id=chain_id, to=book.vault, data=PAUSE_CALLDATA, nonce=nonce, gas_limit=gas_limit,
            fees=fees,
        )  # fmt: skip
        await broadcast(send_w3, signed.raw, signed.tx_hash)
        mined = await wait_for_receipt(w3, signed.tx_hash, book.fees.confirmations, timeout_s=600.0)
        if not mined.success:
            raise KeeperError(f"pause() reverted in {signed.tx_hash}")
        return signed.tx_hash


def resume_command(args: argparse.Namespace) -> int:
    path = kill_switch.pause_path(args.config, Book.load(args.config))
    if kill_switch.resume(path):
        print(f"resumed: {path} removed")
    else:
        print(f"not paused ({path} does not exist)")
    return 0
