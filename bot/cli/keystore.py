"""`ammkeeper keystore new|import|address`: the keys of a vault's owner and keeper, in encrypted
v3 keystores (the format geth, cast, ape and eth-account share).

A private key is never an argument: `import` reads it from an environment variable or a file.
The password comes from `--password-file`, the environment, or a hidden prompt (twice) on a
terminal; neither ever reaches a log or an error.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from eth_account import Account

from bot.cli import options
from bot.core.errors import BadInput
from bot.tx.keystore import keystore_address, read_password, write_keystore

KEY_ENV = "AMMKEEPER_PRIVATE_KEY"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser(
        "keystore", parents=[common], help="create, import or read an encrypted v3 keystore"
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    new = verbs.add_parser("new", parents=[common], help="a new random key, encrypted into PATH")
    imported = verbs.add_parser(
        "import", parents=[common], help="an existing private key, encrypted into PATH"
    )
    for verb in (new, imported):
        verb.add_argument("path", type=Path, help="the keystore to write (never overwritten; mode 0600)")
        options.add_password(verb)
    imported.add_argument(
        "--key-env",
        default=KEY_ENV,
        help=f"environment variable holding the private key (default ${KEY_ENV})",
    )
    imported.add_argument("--key-file", type=Path, help="file holding the private key (hex)")
    address = verbs.add_parser("address", parents=[common], help="the address a keystore holds (no password)")
    address.add_argument("path", type=Path)
    parser.set_defaults(func=command)


def _private_key(args: argparse.Namespace) -> str:
    if args.key_file is not None and os.environ.get(args.key_env):
        raise BadInput(f"both --key-file and ${args.key_env} hold a key: keep one")
    if args.key_file is not None:
        try:
            raw = args.key_file.read_text().strip()
        except OSError as exc:
            raise BadInput(f"key file {args.key_file} cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise BadInput(f"key file {args.key_file} is not text (a hex private key)") from None
        where = f"key file {args.key_file}"
    else:
        raw = os.environ.get(args.key_env, "").strip()
        where = f"${args.key_env}"
        if not raw:
            raise BadInput(f"no private key: set ${args.key_env} or pass --key-file")
    try:
        Account.from_key(raw)
    except (ValueError, TypeError):
        raise BadInput(f"{where} is not a private key (32 bytes of hex)") from None
    return str(raw)


def command(args: argparse.Namespace) -> int:
    if args.verb == "address":
        print(keystore_address(args.path))
        return 0
    if args.path.exists():
        raise BadInput(f"keystore {args.path} exists: a keystore is never overwritten")
    key = _private_key(args) if args.verb == "import" else Account.create().key
    password = read_password(
        args.password_env, args.password_file, prompt="new keystore password", confirm=True
    )
    if not password:
        raise BadInput("an empty password would leave the key unprotected: give one")
    address = write_keystore(args.path, key, password)
    print(f"{address}: keystore {args.path} written (mode 0600)")
    return 0
