"""Options shared by the commands: one definition each (book, RPC, journal, keystore, overrides)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bot.chain.endpoints import ENV_RPC
from bot.core.errors import BadInput
from bot.core.guards import GUARD_NAMES
from bot.tx.journal import Journal, journal_path
from bot.tx.keystore import DEFAULT_PASSWORD_ENV, load_account, read_password

log = logging.getLogger(__name__)

DEV_KEY_ENV = "AMMKEEPER_DEV_KEY"
BLOCK_TAGS = ("latest", "safe", "finalized", "pending", "earliest")

__all__ = [
    "GUARD_NAMES",
    "add_book",
    "add_journal_option",
    "add_keystore",
    "add_overrides",
    "add_rpc",
    "block",
    "block_number",
    "common",
    "existing_journal",
    "load_key",
]


def common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (`ammkeeper -v plan` = `plan -v`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log what happens"
    )
    return parent


def block(text: str) -> int | str:
    if text.isdigit():
        return int(text)
    if text in BLOCK_TAGS:
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is neither a block number nor a block tag")


def block_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a block number")
    return int(text)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_book(
    parser: argparse.ArgumentParser, required: bool = True, help: str = "the book file (TOML)"
) -> None:
    parser.add_argument("--config", type=Path, required=required, help=help)


def add_rpc(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rpc",
        action="append",
        default=None,
        help=f"RPC URL, repeat for failover (default: the book's rpc, or ${ENV_RPC})",
    )


def add_journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="the journal (SQLite; default: beside the book, *.journal.sqlite)",
    )


def add_password(parser: argparse.ArgumentParser) -> None:
    """Where a keystore's password comes from: a file, the environment, else a prompt on a terminal
    (never an argument)."""
    parser.add_argument(
        "--password-env",
        default=DEFAULT_PASSWORD_ENV,
        help=f"variable holding the keystore password (default ${DEFAULT_PASSWORD_ENV}; else a prompt)",
    )
    parser.add_argument("--password-file", type=Path, help="file holding the keystore password")


def add_keystore(parser: argparse.ArgumentParser, dev: bool = False) -> None:
    """The signing key's options: a v3 keystore and where its password comes from (never an argument)."""
    parser.add_argument(
        "--keystore", type=Path, help="the signing key's v3 keystore (eth-account, geth, cast, ape)"
    )
    add_password(parser)
    parser.add_argument(
        "--account",
        help="an ape account alias: its keyfile (~/.ape/accounts/ALIAS.json, or under $APE_DATA_FOLDER)",
    )
    if dev:
        parser.add_argument(
            "--dev",
            action="store_true",
            help=f"development only: a plaintext private key from ${DEV_KEY_ENV} (or --key-env)",
        )
        parser.add_argument("--key-env", default=DEV_KEY_ENV, help="with --dev: the variable holding the key")


def ape_keyfile(alias: str) -> Path:
    """The v3 keyfile of an ape account (`ape accounts generate|import ALIAS`).

    Raises:
        BadInput: no such alias (a hardware-wallet alias has no keyfile: use its own tools).
    """
    if not alias or "/" in alias or alias.startswith("."):
        raise BadInput(f"--account {alias!r} is not an ape account alias")
    folder = Path(os.environ.get("APE_DATA_FOLDER") or Path.home() / ".ape") / "accounts"
    path = folder / f"{alias}.json"
    if not path.is_file():
        raise BadInput(f"no ape account {alias!r}: {path} does not exist (`ape accounts list` shows them)")
    return path


def load_key(args: argparse.Namespace) -> LocalAccount:
    """The keeper key: a keystore, or with --dev a plaintext key from the environment."""
    if getattr(args, "dev", False):
        if args.keystore is not None:
            raise BadInput("--dev reads a plaintext key from the environment: drop --keystore, or drop --dev")
        raw = os.environ.get(args.key_env, "").strip()
        if not raw:
            raise BadInput(f"--dev: ${args.key_env} holds no private key")
        try:
            account: LocalAccount = Account.from_key(raw)
        except (ValueError, TypeError):
            raise BadInput(f"--dev: ${args.key_env} is not a private key (32 bytes of hex)") from None
        log.warning("--dev: using a plaintext key from $%s; use a keystore in production", args.key_env)
        return account
    alias = getattr(args, "account", None)
    if alias is not None:
        if args.keystore is not None:
            raise BadInput("--account names an ape keyfile: drop --keystore, or drop --account")
        args.keystore = ape_keyfile(alias)
    if args.keystore is None:
        more = ", or --dev" if hasattr(args, "dev") else ""
        raise BadInput(f"no key: pass --keystore FILE (a v3 keystore), or --account ALIAS{more}")
    password = read_password(args.password_env, args.password_file, prompt=f"password of {args.keystore}")
    return load_account(args.keystore, password)


@contextlib.contextmanager
def existing_journal(args: argparse.Namespace) -> Iterator[Journal | None]:
    """The book's journal when one exists (its observations and executed bundles inform the view);
    None when nothing has run for the book yet (no file is created)."""
    path = journal_path(args.journal, args.config)
    if not path.is_file():
        yield None
        return
    with Journal.open(path) as journal:
        yield journal


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        choices=GUARD_NAMES,
        metavar="GUARD",
        help=f"send although this guard refuses (repeatable; journaled): {', '.join(GUARD_NAMES)}",
    )
