"""Keystores as eth-account, geth, cast and ape write them; passwords from env or file; clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from bot.core.errors import BadInput
from bot.tx.keystore import DEFAULT_PASSWORD_ENV, load_account, read_password

KEY = "0x" + "5e" * 32
ADDRESS = Account.from_key(KEY).address
PASSWORD = "correct horse battery staple"
BIN = Path(sys.executable).parent


def _write(tmp_path: Path, data: Any, name: str = "key.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _capitalised(ks: dict[str, Any]) -> dict[str, Any]:
    """Old geth / ethers v4 spelling: "Crypto"."""
    out = dict(ks)
    out["Crypto"] = out.pop("crypto")
    return out


def _cast_like(ks: dict[str, Any]) -> dict[str, Any]:
    """foundry's cast (rust eth-keystore): no "address" field."""
    return {k: v for k, v in ks.items() if k != "address"}


@pytest.fixture(scope="module")
def scrypt() -> dict[str, Any]:
    return dict(Account.encrypt(KEY, PASSWORD))  # geth's parameters: scrypt n=262144, r=8, p=1


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda ks: ks, id="eth-account/geth scrypt"),
        pytest.param(_capitalised, id="Crypto capitalised"),
        pytest.param(_cast_like, id="cast without address"),
        pytest.param(lambda ks: {**ks, "address": "0x" + ks["address"]}, id="address with 0x"),
    ],
)
def test_keystore_variants_give_the_key(tmp_path: Path, scrypt: dict[str, Any], variant: Any) -> None:
    account = load_account(_write(tmp_path, variant(scrypt)), PASSWORD)
    assert account.address == ADDRESS


def test_pbkdf2_and_light_scrypt_keystores(tmp_path: Path) -> None:
    pbkdf2 = Account.encrypt(KEY, PASSWORD, kdf="pbkdf2", iterations=1000)
    assert load_account(_write(tmp_path, pbkdf2, "p.json"), PASSWORD).address == ADDRESS
    light = Account.encrypt(KEY, PASSWORD, kdf="scrypt", iterations=8192)  # cast's default n
    assert load_account(_write(tmp_path, _cast_like(light), "c.json"), PASSWORD).address == ADDRESS


def test_an_ape_account_keystore(tmp_path: Path) -> None:
    """A keystore written by ape's own account import (as `ape accounts import` does)."""
    code = (
        "import ape_accounts, sys; "
        "a = ape_accounts.import_account_from_private_key('keeper', sys.argv[1], sys.argv[2]); "
        "print(a.keyfile_path)"
    )
    env = {**os.environ, "APE_DATA_FOLDER": str(tmp_path / "ape")}
    done = subprocess.run(
        [str(BIN / "python"), "-c", code, PASSWORD, KEY], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "ape" / "accounts" / "keeper.json"
    assert load_account(path, PASSWORD).address == ADDRESS


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON$"),
        ("[1, 2]", "a JSON object is expected"),
        (json.dumps({"version": 3}), "no 'crypto' section"),
        (json.dumps({"version": 1, "crypto": {"kdf": "scrypt"}}), "version 1; only v3"),
        (json.dumps({"version": 3, "crypto": {"kdf": "argon2"}}), "kdf 'argon2'"),
        (json.dumps({"version": 3, "crypto": {"kdf": "scrypt"}}), "fields are missing or malformed"),
    ],
)
def test_malformed_keystores_are_one_line_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(BadInput, match=message) as caught:
        load_account(path, PASSWORD)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_wrong_password_is_named_and_never_shown(tmp_path: Path, scrypt: dict[str, Any]) -> None:
    path = _write(tmp_path, scrypt)
    with pytest.raises(BadInput) as caught:
        load_account(path, "hunter2-wrong")
    assert str(caught.value) == f"keystore {path}: wrong password"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_keystore_whose_address_is_not_its_key_is_refused(tmp_path: Path, scrypt: dict[str, Any]) -> None:
    lying = {**scrypt, "address": "00" * 19 + "01"}
    with pytest.raises(
        BadInput, match="says 0x0000000000000000000000000000000000000001 but holds the key of"
    ):
        load_account(_write(tmp_path, lying), PASSWORD)


def test_a_missing_or_unreadable_keystore(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot be read"):
        load_account(tmp_path / "nope.json", PASSWORD)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BadInput, match="is not JSON"):
        load_account(binary, PASSWORD)


def test_the_password_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "pw"
    file.write_text("s3cret\n")
    assert read_password(password_file=file) == "s3cret"
    file.write_text("with trailing spaces  \n\n")
    assert read_password(password_file=file) == "with trailing spaces  \n"  # only one newline is dropped
    monkeypatch.setenv(DEFAULT_PASSWORD_ENV, "from-env")
    assert read_password() == "from-env"
    monkeypatch.setenv("MY_PW", "mine")
    assert read_password("MY_PW") == "mine"
    monkeypatch.delenv(DEFAULT_PASSWORD_ENV)
    with pytest.raises(BadInput, match=f"set \\${DEFAULT_PASSWORD_ENV} or pass --password-file"):
        read_password()
    with pytest.raises(BadInput, match=r"password file .* cannot be read"):
        read_password(password_file=tmp_path / "missing")
