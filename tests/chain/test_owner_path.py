"""From a wallet to a rebalanced vault and back, through the CLI alone: a new owner keystore, a
vault deployed and allowlisted, tokens and LP deposited, a plan, a rebalance by the keeper, and
everything withdrawn to the owner; the same owner calls as Safe Transaction Builder JSON do the
same when the owner sends them; bad input is one line, exit 2, nothing sent."""

from __future__ import annotations

import json
import re
import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from anvil.artifacts import PAIR_INIT_CODE_HASH
from anvil.fork_dex import add_fork_pair
from anvil.world import ensure_world
from bot.chain.contracts import compiled
from bot.cli.main import main
from bot.core.book import Book
from tests.chain.books import _toml
from tests.chain.conftest import World

PASSWORD = "correct horse battery staple"


def _owner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    password = tmp_path / "owner.password"
    password.write_text(PASSWORD + "\n")
    keystore = tmp_path / "owner.json"
    code, out, _ = _run(capsys, "keystore", "new", str(keystore), "--password-file", str(password))
    assert code == 0 and "written (mode 0600)" in out and keystore.stat().st_mode & 0o777 == 0o600
    return keystore, password


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fund(world: World, address: str, lp_from_holder: str) -> None:
    """The new owner's wallet: ether for gas, WETH and USDC from the whale, the holder's LP."""
    world.node.rpc("anvil_setBalance", address, hex(10**20))
    whale, holder = world.book.accounts["whale"], world.book.accounts["holder"]
    world.send(world.token("WETH").functions.transfer(address, 20 * 10**18), whale)
    world.send(world.token("USDC").functions.transfer(address, 50_000 * 10**6), whale)
    pair = world.pair(lp_from_holder)
    world.send(pair.functions.transfer(address, pair.functions.balanceOf(holder).call() // 2), holder)


def _held(world: World, holder: str) -> dict[str, int]:
    """`holder`'s WETH, USDC and WETH/USDC LP, by address."""
    assets = [
        world.book.tokens["WETH"].address,
        world.book.tokens["USDC"].address,
        world.book.pairs["WETH/USDC"].address,
    ]
    return {a: world.token(a).functions.balanceOf(holder).call() for a in assets}


def _book(world: World, tmp_path: Path, vault: str) -> Path:
    """A small book of the new vault: WETH/USDC LP, WETH and USDC."""
    raw: dict[str, Any] = tomllib.loads(ensure_world().config.read_text())
    raw["vault"] = vault
    raw["tokens"] = {s: raw["tokens"][s] for s in ("WETH", "USDC")}
    raw["pairs"] = {"WETH/USDC": raw["pairs"]["WETH/USDC"]}
    raw["buckets"] = {}
    raw["sleeves"] = [
        {"pair": "WETH/USDC", "target": "0.5"},
        {"token": "WETH", "target": "0.25"},
        {"token": "USDC", "target": "0.25"},
    ]
    raw["prices"] = {k: v for k, v in raw.get("prices", {}).items() if k != "routes"}
    path = tmp_path / "mine.toml"
    path.write_text(_toml(raw))
    return path


def test_a_wallet_to_a_rebalanced_vault_and_back_through_the_cli(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = world.node.url
    keystore, password = _owner(tmp_path, capsys)
    code, owner, _ = _run(capsys, "keystore", "address", str(keystore))
    owner = owner.strip()
    assert code == 0 and re.fullmatch(r"0x[0-9a-fA-F]{40}", owner)
    sign = ["--rpc", url, "--keystore", str(keystore), "--password-file", str(password)]
    keeper = world.book.accounts["keeper"]
    # a new key holds no native: said before anything is signed
    code, _, err = _run(capsys, "vault", "deploy", *sign, "--keeper", keeper)
    assert code == 2 and "holds 0.000000 native; it may cost up to" in err and "not sent" in err
    _fund(world, owner, "WETH/USDC")
    code, out, _ = _run(capsys, "vault", "deploy", *sign, "--keeper", keeper)
    assert code == 0, out
    vault = re.search(r"vault (0x[0-9a-fA-F]{40}) deployed", out).group(1)  # type: ignore[union-attr]
    assert re.search(
        r"deploy a vault \(keeper .*\): sent 0x[0-9a-f]{64} \(nonce 0", out
    )  # the hash at broadcast
    pair = world.book.pairs["WETH/USDC"].address
    # the local chain has no DEX presets: the fee must be given (or come from a book)
    code, _, err = _run(capsys, "vault", "allow", *sign, "--vault", vault, pair)
    assert code == 2 and "the fee of pair" in err and "pass --fee-bps" in err
    assert _run(capsys, "vault", "allow", *sign, "--vault", vault, pair, "--fee-bps", "30")[0] == 0
    tokens = {s: world.book.tokens[s].address for s in ("WETH", "USDC")}
    deposit = [f"{tokens['WETH']}=12.5", f"{tokens['USDC']}=20000", f"{pair}=all"]
    code, out, err = _run(capsys, "vault", "deposit", "--vault", vault, *sign, *deposit)
    assert code == 0, err
    held = _held(world, vault)
    assert held[tokens["WETH"]] == 125 * 10**17 and held[tokens["USDC"]] == 20_000 * 10**6 and held[pair] > 0
    # init writes the book from what the vault holds (equal targets: there is something to do)
    book = tmp_path / "mine.toml"
    dex = ["--factory", world.book.dex.factory, "--init-code-hash", PAIR_INIT_CODE_HASH, "--fee-bps", "30"]
    found = ["--token", tokens["WETH"], "--token", tokens["USDC"]]
    code, out, err = _run(
        capsys, "init", "--rpc", url, "--vault", vault, *dex, *found, "--equal", "--out", str(book)
    )
    assert code == 0 and "1 pair(s) proven, 3 sleeve(s)" in out, err
    written = Book.load(book)
    assert written.vault == vault and written.pairs == {"WETH/USDC": pair}
    (lp_sleeve,) = [s for s in written.sleeves if s.pair == "WETH/USDC"]
    reserves = world.pair("WETH/USDC").functions.getReserves().call()
    supply = world.pair("WETH/USDC").functions.totalSupply().call()
    weth_first = world.book.pairs["WETH/USDC"].token0 == "WETH"
    entry = {
        "WETH": reserves[0 if weth_first else 1] * held[pair] // supply,
        "USDC": reserves[1 if weth_first else 0] * held[pair] // supply,
    }
    assert lp_sleeve.entry == {
        "WETH": Decimal(entry["WETH"]).scaleb(-18),
        "USDC": Decimal(entry["USDC"]).scaleb(-6),
    }
    with_book = ["--config", str(book), *sign]
    code, out, _ = _run(capsys, "vault", "show", "--config", str(book), "--rpc", url, "--json")
    shown = json.loads(out)
    assert shown["owner"] == owner and shown["keeper"] == keeper and shown["allowlist"] == {"WETH/USDC": 30}
    assert shown["balances"]["WETH"] == "12.5"
    # the keeper plans and rebalances the new vault
    files = ensure_world()
    keeper_key = ["--keystore", str(files.keeper_keystore), "--password-file", str(files.keeper_password)]
    code, out, _ = _run(capsys, "plan", "--config", str(book), "--rpc", url)
    # entry amounts are whole base units: their rounding shows as 0, not as 1e-10% of IL; min-outs in units
    assert code == 0 and not re.search(r"\de-\d", out), out
    assert re.search(r"at least [0-9.,]+ (WETH|USDC)", out) and "min out" not in out
    code, out, err = _run(capsys, "rebalance", "--config", str(book), "--rpc", url, *keeper_key, "--yes")
    assert code == 0 and "realized equals predicted" in out, out + err
    # and the owner takes everything back
    before, vault_held = _held(world, owner), _held(world, vault)
    assert vault_held != held  # the rebalance moved it
    code, out, err = _run(capsys, "vault", "withdraw", *with_book)
    assert code == 0, err
    mine = _held(world, owner)
    assert all(mine[a] == before[a] + vault_held[a] for a in mine)
    assert set(_held(world, vault).values()) == {0}
    contract = world.w3.eth.contract(address=vault, abi=compiled("Executor").abi)
    assert contract.functions.owner().call() == owner


def test_owner_calls_as_safe_json_do_the_same_when_the_owner_sends_them(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = world.node.url
    keystore, password = _owner(tmp_path, capsys)
    owner = json.loads(keystore.read_text())["address"]
    _fund(world, owner, "WETH/USDC")
    sign = ["--rpc", url, "--keystore", str(keystore), "--password-file", str(password)]
    code, out, _ = _run(capsys, "vault", "deploy", *sign, "--keeper", world.book.accounts["keeper"])
    vault = re.search(r"vault (0x[0-9a-fA-F]{40}) deployed", out).group(1)  # type: ignore[union-attr]
    book = _book(world, tmp_path, vault)
    batch = tmp_path / "safe.json"
    code, out, err = _run(
        capsys,
        "vault",
        "deposit",
        "--config",
        str(book),
        "--rpc",
        url,
        "--calldata",
        str(batch),
        "WETH=3",
        "USDC=all",
    )
    assert code == 0 and "wrote 4 call(s) for the owner" in out, err
    assert _held(world, vault)[world.book.tokens["WETH"].address] == 0  # nothing sent
    safe = json.loads(batch.read_text())
    assert safe["chainId"] == str(world.book.chain_id) and safe["meta"]["createdFromSafeAddress"] == owner
    world.node.rpc("anvil_impersonateAccount", owner)
    for call in safe["transactions"]:
        world.w3.eth.wait_for_transaction_receipt(
            world.w3.eth.send_transaction(
                {"from": owner, "to": call["to"], "data": call["data"], "value": int(call["value"])}
            )
        )
    held = _held(world, vault)
    assert held[world.book.tokens["WETH"].address] == 3 * 10**18
    assert held[world.book.tokens["USDC"].address] == 50_000 * 10**6
    # the allowlist and the withdrawal too: written, then sent as the owner, they do the same
    pair = world.book.pairs["WETH/USDC"].address
    for verb, extra in (("allow", [pair, "--fee-bps", "30"]), ("withdraw", [])):
        batch = tmp_path / f"{verb}.json"
        code, _, err = _run(
            capsys, "vault", verb, "--config", str(book), "--rpc", url, "--calldata", str(batch), *extra
        )
        assert code == 0, err
        for call in json.loads(batch.read_text())["transactions"]:
            tx = {"from": owner, "to": call["to"], "data": call["data"], "value": int(call["value"])}
            assert world.w3.eth.wait_for_transaction_receipt(world.w3.eth.send_transaction(tx))["status"] == 1
    contract = world.w3.eth.contract(address=vault, abi=compiled("Executor").abi)
    assert contract.functions.pair_config(pair).call()[2:] == [30, 1]
    assert set(_held(world, vault).values()) == {0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vault", "deploy", "--keeper", "0x12"], "keeper '0x12' is not an address"),
        (["vault", "show"], "which vault?"),
        (["vault", "deposit", "--vault", "0x" + "11" * 20, "WETH"], "give ITEM=AMOUNT"),
        (["vault", "set-guards", "--vault", "0x" + "11" * 20, "1,2,3"], "four whole numbers"),
        (
            ["vault", "set-guards", "--vault", "0x" + "11" * 20, "100,0,0,0"],
            "a price guard needs a TWAP window",
        ),
        (
            ["vault", "deposit", "--vault", "0x" + "11" * 20, "0x" + "22" * 20 + "=1e3"],
            "a plain decimal number",
        ),
        (
            ["vault", "pause", "--vault", "0x" + "11" * 20, "--calldata", "/etc/hostname"],
            "is never written over",
        ),
        (["keystore", "address", "/nonexistent/k.json"], "cannot be read"),
        (["init", "--vault", "0x" + "11" * 20, "--out", "/tmp/never.toml"], "which pairs?"),
        (
            ["init", "--vault", "0x" + "11" * 20, "--pair", "0x" + "22" * 20, "--out", "/tmp/never.toml"],
            "which DEX?",
        ),
        (
            ["init", "--vault", "nope", "--pair", "0x" + "22" * 20, "--out", "/tmp/never.toml"],
            "--vault 'nope' is not an address",
        ),
    ],
)
def test_bad_input_to_the_owner_commands_is_one_line_and_exit_2(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    keystore, password = _owner(tmp_path, capsys)
    existing = tmp_path / "batch.json"
    existing.write_text("{}")
    args = [str(existing) if a == "EXISTING" else a for a in args]
    signer = (
        ["--keystore", str(keystore), "--password-file", str(password)]
        if args[0] == "vault" and args[1] != "show"
        else []
    )
    code, _, err = (
        _run(capsys, *args, "--rpc", world.node.url, *signer)
        if args[0] in ("vault", "init")
        else _run(capsys, *args)
    )
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_init_refuses_what_is_no_pair_of_the_factory_with_the_reason(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fork = add_fork_pair(world.node.url, world.book, "LINK", "USDC", 1_000_000, Fraction(1, 200))
    dex = ["--factory", world.book.dex.factory, "--init-code-hash", PAIR_INIT_CODE_HASH, "--fee-bps", "30"]
    base = [
        "init",
        "--rpc",
        world.node.url,
        "--vault",
        world.book.accounts["vault"],
        *dex,
        "--out",
        str(tmp_path / "b.toml"),
    ]
    cases = {
        fork.pair: f"is factory {fork.factory}'s, not custom's",  # another DEX: its fee is not this one's
        world.book.accounts["whale"]: "has no code: an account, not a pair",
        world.book.tokens["USDC"].address: "answers no token0()/token1()/factory(): not a V2 pair",
    }
    for address, reason in cases.items():
        code, _, err = _run(capsys, *base, "--pair", address)
        assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "b.toml").exists()
    # named as its own DEX, the fork's pair is proven (its own init code hash): what stops the book
    # now is that none of its pairs holds WETH, which prices gas
    fork_dex = [
        "--factory",
        fork.factory,
        "--init-code-hash",
        fork.init_code_hash,
        "--fee-bps",
        str(fork.fee_bps),
    ]
    args = [
        "init",
        "--rpc",
        world.node.url,
        "--vault",
        world.book.accounts["vault"],
        *fork_dex,
        "--pair",
        fork.pair,
    ]
    code, _, err = _run(capsys, *args, "--out", str(tmp_path / "b.toml"))
    assert code == 2 and "none of the pairs holds WETH, which prices gas" in err, err


def test_ownership_moves_in_two_steps_and_migrate_moves_everything_to_a_new_vault(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = world.node.url
    keystore, password = _owner(tmp_path, capsys)
    owner = json.loads(keystore.read_text())["address"]
    _fund(world, owner, "WETH/USDC")
    sign = ["--rpc", url, "--keystore", str(keystore), "--password-file", str(password)]
    keeper = world.book.accounts["keeper"]
    vaults = []
    for _ in range(2):
        code, out, _ = _run(capsys, "vault", "deploy", *sign, "--keeper", keeper)
        vaults.append(re.search(r"vault (0x[0-9a-fA-F]{40}) deployed", out).group(1))  # type: ignore[union-attr]
    old, new = vaults
    pair = world.book.pairs["WETH/USDC"].address
    assert _run(capsys, "vault", "allow", *sign, "--vault", old, pair, "--fee-bps", "30")[0] == 0
    book = _book(world, tmp_path, old)
    assert (
        _run(
            capsys, "vault", "deposit", "--config", str(book), *sign, "WETH=4", "USDC=1000", "WETH/USDC=all"
        )[0]
        == 0
    )
    before = _held(world, old)
    code, out, err = _run(capsys, "vault", "migrate", "--config", str(book), *sign, "--to", new)
    assert code == 0, err
    assert _held(world, new) == before and set(_held(world, old).values()) == {0}
    contract = world.w3.eth.contract(address=new, abi=compiled("Executor").abi)
    assert contract.functions.pair_config(pair).call()[2:] == [30, 1]  # allowed there with its fee
    # the new vault goes to another owner: proposed, then accepted by that owner's key
    other_keystore = tmp_path / "other.json"
    assert _run(capsys, "keystore", "new", str(other_keystore), "--password-file", str(password))[0] == 0
    other = json.loads(other_keystore.read_text())["address"]
    world.node.rpc("anvil_setBalance", other, hex(10**19))
    assert _run(capsys, "vault", "propose-owner", *sign, "--vault", new, other)[0] == 0
    assert contract.functions.owner().call() == owner  # nothing moves until it is accepted
    other_sign = ["--rpc", url, "--keystore", str(other_keystore), "--password-file", str(password)]
    code, _, err = _run(capsys, "vault", "withdraw", "--vault", new, *other_sign, f"{pair}=all")
    assert code == 2 and "is not the owner of vault" in err
    assert _run(capsys, "vault", "accept-owner", *other_sign, "--vault", new)[0] == 0
    assert contract.functions.owner().call() == other


def test_an_ape_account_alias_signs_the_owners_calls_through_ape(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path / "ape"))
    (tmp_path / "ape" / "accounts").mkdir(parents=True)
    password = tmp_path / "pw"
    password.write_text(PASSWORD)
    keyfile = tmp_path / "ape" / "accounts" / "cold.json"  # where `ape accounts generate cold` writes it
    assert _run(capsys, "keystore", "new", str(keyfile), "--password-file", str(password))[0] == 0
    owner = json.loads(keyfile.read_text())["address"]
    world.node.rpc("anvil_setBalance", owner, hex(10**19))
    args = ["vault", "deploy", "--rpc", world.node.url, "--password-file", str(password)]
    code, out, err = _run(capsys, *args, "--account", "cold", "--keeper", world.book.accounts["keeper"])
    assert code == 0 and f"owner {owner}" in out, err
    code, _, err = _run(capsys, *args, "--account", "warm", "--keeper", world.book.accounts["keeper"])
    assert code == 2 and "no ape account 'warm'" in err


def test_a_token_named_twice_or_a_migration_to_itself_is_refused_before_anything_is_sent(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore, password = _owner(tmp_path, capsys)
    owner = json.loads(keystore.read_text())["address"]
    _fund(world, owner, "WETH/USDC")
    sign = ["--rpc", world.node.url, "--keystore", str(keystore), "--password-file", str(password)]
    code, out, _ = _run(capsys, "vault", "deploy", *sign, "--keeper", world.book.accounts["keeper"],
                        "--guards", "100,600,3600,6")  # fmt: skip
    vault = re.search(r"vault (0x[0-9a-fA-F]{40}) deployed", out).group(1)  # type: ignore[union-attr]
    contract = world.w3.eth.contract(address=vault, abi=compiled("Executor").abi)
    assert contract.functions.guards().call() == [100, 600, 3600, 6]  # --guards, set after the creation
    nonce = world.w3.eth.get_transaction_count(owner)
    weth = world.book.tokens["WETH"].address
    code, _, err = _run(capsys, "vault", "deposit", "--vault", vault, *sign, f"{weth}=12", f"{weth}=12")
    assert code == 2 and "named twice" in err
    book = _book(world, tmp_path, vault)
    code, _, err = _run(capsys, "vault", "migrate", "--config", str(book), *sign, "--to", vault)
    assert code == 2 and "is the vault itself" in err
    code, _, err = _run(capsys, "vault", "set-keeper", "--vault", vault, *sign, "0x" + "00" * 20)
    assert code == 2 and "zero address" in err
    pair = world.book.pairs["WETH/USDC"].address
    code, _, err = _run(capsys, "vault", "remove", "--vault", vault, *sign, pair)
    assert code == 2 and "not on vault" in err
    assert world.w3.eth.get_transaction_count(owner) == nonce  # nothing was sent
