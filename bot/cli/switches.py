"""`ammkeeper pause` and `resume`: the kill switch, a flag file beside the book; `pause --on-chain`
also pauses the vault itself with the keeper key (only the vault's owner can unpause it)."""

from __future__ import annotations

import argparse
import asyncio

from eth_account.signers.local import LocalAccount

from bot.chain import endpoints, rpc
from bot.cli import options
from bot.core.book import Book
from bot.keeper.vault_pause import pause_vault
from bot.ops import kill_switch


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
    async with (
        rpc.connect(ends.calls, book=book) as w3,
        rpc.connect(ends.sends, name="send", book=book) as send_w3,
    ):
        return await pause_vault(w3, send_w3, book, account)


def resume_command(args: argparse.Namespace) -> int:
    path = kill_switch.pause_path(args.config, Book.load(args.config))
    if kill_switch.resume(path):
        print(f"resumed: {path} removed")
    else:
        print(f"not paused ({path} does not exist)")
    return 0
