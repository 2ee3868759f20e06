"""The keeper key from an encrypted v3 keystore (eth-account, geth, cast, ape accounts).

The password comes from an environment variable or a file, never from the command line.
Neither the password nor the key ever appears in an error: every failure is one line
naming the keystore file and what is wrong with it.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bot.core.address_book import checksum
from bot.core.errors import BadInput

DEFAULT_PASSWORD_ENV = "AMMKEEPER_KEYSTORE_PASSWORD"


def read_password(
    env_name: str | None = None,
    password_file: Path | None = None,
    prompt: str | None = None,
    confirm: bool = False,
) -> str:
    """The keystore password: from `password_file` if given, else from the environment variable,
    else (with `prompt`, on a terminal) typed at a hidden prompt, twice with `confirm`.

    A password file's single trailing newline is dropped (as `echo pw > file` writes it).
    """
    if password_file is not None:
        try:
            text = Path(password_file).read_text()
        except OSError as exc:
            raise BadInput(f"password file {password_file} cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise BadInput(f"password file {password_file} is not text") from None
        return text[:-1] if text.endswith("\n") else text
    name = env_name or DEFAULT_PASSWORD_ENV
    value = os.environ.get(name)
    if value is not None:
        return value
    if prompt is not None and sys.stdin.isatty():
        typed = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != typed:
            raise BadInput("the two passwords differ")
        if not typed:
            raise BadInput("an empty password")
        return typed
    raise BadInput(f"no keystore password: set ${name} or pass --password-file")


def keystore_address(path: Path) -> str:
    """The address a v3 keystore states (no password needed).

    Raises:
        BadInput: not a v3 keystore, or it states no address.
    """
    stated = _keystore_json(path).get("address")
    if not isinstance(stated, str) or not stated:
        raise BadInput(f"keystore {path} states no address (decrypt it to learn it)")
    try:
        return checksum(stated if stated.startswith("0x") else "0x" + stated)
    except BadInput:
        raise BadInput(f"keystore {path} states an address that is not one: {stated!r}") from None


def write_keystore(path: Path, key: bytes | str, password: str) -> str:
    """Encrypt `key` (scrypt) into a new v3 keystore at `path`, readable by its owner alone; its address.

    Raises:
        BadInput: `path` exists (a keystore is never overwritten), or cannot be written.
    """
    account = Account.from_key(key)
    data = Account.encrypt(account.key, password)
    data["address"] = account.address
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BadInput(f"keystore {path} exists: a keystore is never overwritten") from None
    except OSError as exc:
        raise BadInput(f"keystore {path} cannot be written: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    return str(data["address"])


def _keystore_json(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise BadInput(f"keystore {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"keystore {path} is not JSON (not even text)") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise BadInput(f"keystore {path} is not JSON") from None
    if not isinstance(data, dict):
        raise BadInput(f"keystore {path} is not a v3 keystore: a JSON object is expected")
    crypto = data.get("crypto", data.get("Crypto"))
    if not isinstance(crypto, dict):
        raise BadInput(f"keystore {path} is not a v3 keystore: no 'crypto' section")
    if data.get("version") != 3:
        raise BadInput(f"keystore {path} is version {data.get('version')!r}; only v3 keystores are supported")
    kdf = crypto.get("kdf")
    if kdf not in ("scrypt", "pbkdf2"):
        raise BadInput(f"keystore {path} uses kdf {kdf!r}; scrypt and pbkdf2 are supported")
    return data


def load_account(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore at `path`.

    Raises:
        BadInput: unreadable, not JSON, not a v3 keystore, wrong password, or the address it
            states is not the address of the key it holds.
    """
    data = _keystore_json(path)
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise BadInput(f"keystore {path}: wrong password") from None
        raise BadInput(f"keystore {path} cannot be decrypted: {type(exc).__name__}") from None
    except (KeyError, TypeError):
        raise BadInput(f"keystore {path} is not a v3 keystore: fields are missing or malformed") from None
    account: LocalAccount = Account.from_key(key)
    stated = data.get("address")
    if isinstance(stated, str) and stated:
        try:
            stated_address = checksum(stated if stated.startswith("0x") else "0x" + stated)
        except BadInput:
            raise BadInput(f"keystore {path} states an address that is not one: {stated!r}") from None
        if stated_address != account.address:
            raise BadInput(f"keystore {path} says {stated_address} but holds the key of {account.address}")
    return account
