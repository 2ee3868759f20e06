"""The manual rebalance on the world: keystore, confirmation, send, receipt, journal, pending, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from anvil.world import ensure_world
from bot.cli.main import main
from tests.chain.books import journal_records, open_journal, vault_holdings, write_book
from tests.chain.conftest import World
from tests.chain.fault_proxy import fault_proxy

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = ensure_world().keeper_password.read_text().strip()


def _key_args(keystore: Path | None = None, password_file: Path | None = None) -> list[str]:
    files = ensure_world()
    return [
        "--keystore", str(keystore or files.keeper_keystore),
        "--password-file", str(password_file or files.keeper_password),
    ]  # fmt: skip


def _args(world: World, book: Path, *more: str) -> list[str]:
    return ["rebalance", "--config", str(book), "--rpc", world.node.url, *_key_args(), *more]


def _keeper_nonce(world: World) -> int:
    return int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"], "pending"))


def test_rebalance_signs_sends_and_journals_the_raw_transaction_before_the_receipt(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    nonce = _keeper_nonce(world)
    assert main(_args(world, book, "--yes")) == 0
    out = capsys.readouterr().out
    assert "decision: REBALANCE" in out and ": succeeded, gas used" in out
    # what is confirmed: chain, sender, nonce, the most it may cost, the value moved; the hash at broadcast
    keeper = world.book.accounts["keeper"]
    assert f"(chain 31337), from keeper {keeper} with nonce {nonce}" in out
    assert re.search(
        r"gas: at most [0-9.]+ WETH \([0-9.,]+ USDC\): ~[0-9,]+ gas at up to [0-9.]+ gwei", out
    ), out
    assert re.search(r"ops moving [0-9,.]+ USDC", out)
    assert re.search(rf"sent 0x[0-9a-f]{{64}} \(nonce {nonce}\): waiting for 1 confirmation", out)
    assert main(["journal", "--config", str(book), "1"]) == 0
    assert re.search(r"max fee [0-9.,]+ gwei, tip [0-9.,]+ gwei, gas limit [0-9,]+", capsys.readouterr().out)
    assert "realized equals predicted: every op, balance and pair state, to the wei" in out
    assert _keeper_nonce(world) == nonce + 1
    (run,) = journal_records(book)
    assert (run["kind"], run["status"], run["keeper"]) == (
        "rebalance",
        "executed",
        world.book.accounts["keeper"],
    )
    (intent,) = run["intents"]
    (attempt,) = intent["attempts"]
    assert intent["fork"] == 0 and intent["status"] == "executed" and attempt["status"] == "mined"
    raw = bytes.fromhex(attempt["raw"][2:])
    assert "0x" + keccak(raw).hex() == attempt["tx_hash"] == intent["outcome"]["tx_hash"]
    assert Account.recover_transaction(raw) == world.book.accounts["keeper"]
    mined = world.w3.eth.get_transaction(attempt["tx_hash"])
    assert mined["type"] == 2 and mined["nonce"] == nonce == attempt["nonce"]
    assert mined["maxFeePerGas"] == attempt["max_fee"] and mined["maxPriorityFeePerGas"] == attempt["tip"]
    assert "0x" + bytes(mined["input"]).hex() == intent["calldata"]
    receipt = world.w3.eth.get_transaction_receipt(attempt["tx_hash"])
    assert intent["outcome"]["gas_used"] == receipt["gasUsed"]
    assert intent["outcome"]["fee_wei"] == str(receipt["gasUsed"] * receipt["effectiveGasPrice"])
    # the chain, read independently, holds what the journal predicted
    predicted = intent["plan"]["predicted"]
    assert {a: str(v) for a, v in vault_holdings(world).items()} == {
        **predicted["balances"],
        **predicted["lp"],
    }
    # no secret in the journal
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*.journal.sqlite*"))
    key = bytes(Account.decrypt(ensure_world().keeper_keystore.read_text(), PASSWORD))
    assert PASSWORD.encode() not in journal_bytes and key.hex().encode() not in journal_bytes
    # a second run finds the book inside its bands
    assert main(_args(world, book, "--yes")) == 0
    assert "decision: HOLD" in capsys.readouterr().out
    assert [r["status"] for r in journal_records(book)] == ["held", "executed"]


def test_a_declined_rebalance_sends_nothing_and_a_confirmed_one_executes(
    world: World, tmp_path: Path
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    nonce = _keeper_nonce(world)
    command = [str(BIN / "ammkeeper"), *_args(world, book)]
    declined = subprocess.run(command, input="n\n", capture_output=True, text=True, timeout=120)
    assert declined.returncode == 1, declined.stderr
    assert (
        "send this rebalance? [y/N]" in declined.stdout and "not confirmed: nothing sent" in declined.stdout
    )
    assert _keeper_nonce(world) == nonce
    (run,) = journal_records(book)
    assert run["status"] == "declined" and run["intents"] == []
    confirmed = subprocess.run(command, input="y\n", capture_output=True, text=True, timeout=120)
    assert confirmed.returncode == 0, confirmed.stderr
    assert _keeper_nonce(world) == nonce + 1


def test_dry_run_flag_executes_on_a_fork_and_sends_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    nonce, holdings = _keeper_nonce(world), vault_holdings(world)
    # the password from the environment this time
    monkeypatch.setenv("AMMKEEPER_KEYSTORE_PASSWORD", PASSWORD)
    args = ["rebalance", "--config", str(book), "--rpc", world.node.url, "--keystore",
            str(ensure_world().keeper_keystore), "--dry-run"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fork: anvil pid" in out and "realized equals predicted" in out
    assert "send this rebalance?" not in out
    assert (_keeper_nonce(world), vault_holdings(world)) == (nonce, holdings)
    (run,) = journal_records(book)
    assert run["status"] == "dry-run matched" and run["intents"][0]["fork"] == 1


def test_a_pending_transaction_blocks_planning_until_it_is_mined_and_a_dropped_one_is_rebroadcast(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], manual_mining: None
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    assert main(_args(world, book, "--yes", "--receipt-timeout", "1")) == 1
    assert "not mined after 1 s; it stays in the journal" in capsys.readouterr().err
    (first,) = journal_records(book)
    (attempt,) = first["intents"][0]["attempts"]
    tx_hash = attempt["tx_hash"]
    assert first["status"] == "failed" and first["intents"][0]["status"] == "sent"

    assert main(_args(world, book, "--yes")) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"ammkeeper: waiting for transaction {tx_hash} (nonce {attempt['nonce']}, intent #1): "
        "it is still pending; nothing new is planned until it is mined or dropped"
    ]
    assert journal_records(book)[0]["status"] == "waiting" and journal_records(book)[0]["intents"] == []

    world.node.rpc("anvil_dropTransaction", tx_hash)
    assert world.w3.eth.get_transaction_count(world.book.accounts["keeper"], "pending") == attempt["nonce"]
    assert main(_args(world, book, "--yes")) == 75
    assert "the node had dropped it; rebroadcast from its saved raw bytes" in capsys.readouterr().err
    assert world.node.rpc("eth_getTransactionByHash", tx_hash) is not None

    world.node.rpc("evm_mine")
    assert main(_args(world, book, "--yes")) == 0
    out = capsys.readouterr().out
    assert f"journal: intent #1: {tx_hash} was mined in block" in out and "(executed); recorded" in out
    assert "decision: HOLD" in out
    intent = journal_records(book)[-1]["intents"][0]
    assert intent["status"] == "executed" and intent["outcome"]["matches"] == 1
    assert intent["outcome"]["realized"]["reconciled"] is True


def test_a_transaction_of_the_keeper_unknown_to_the_journal_blocks_planning(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], manual_mining: None
) -> None:
    keeper = world.book.accounts["keeper"]
    world.w3.eth.send_transaction({"from": keeper, "to": keeper, "value": 1})
    book = write_book(tmp_path)
    assert main(_args(world, book, "--yes")) == 75
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"the keeper {keeper} has 1 pending transaction(s) this journal does not know" in line


def test_a_broadcast_that_fails_leaves_the_raw_transaction_for_the_next_run(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    nonce = _keeper_nonce(world)
    with fault_proxy(world.node.url, fail={"eth_sendRawTransaction"}) as proxy:
        args = ["rebalance", "--config", str(book), "--rpc", proxy, *_key_args(), "--yes"]
        assert main(args) == 75  # transient: the next run settles it
    assert "may not have reached the node" in capsys.readouterr().err
    assert _keeper_nonce(world) == nonce  # nothing reached the chain...
    (run,) = journal_records(book)
    (attempt,) = run["intents"][0]["attempts"]
    assert attempt["status"] == "signed" and attempt["broadcast_at"] is None  # ...but the raw bytes are saved
    assert main(_args(world, book, "--yes")) == 75  # the next run sends exactly those bytes
    assert "rebroadcast from its saved raw bytes" in capsys.readouterr().err
    # automine mines it right after the send returns, not before: wait for it
    assert world.w3.eth.wait_for_transaction_receipt(attempt["tx_hash"], timeout=30)["status"] == 1
    assert main(_args(world, book, "--yes")) == 0
    assert "decision: HOLD" in capsys.readouterr().out
    assert _keeper_nonce(world) == nonce + 1  # executed once


def _other_keystore(tmp_path: Path) -> Path:
    from anvil.world import dev_key

    path = tmp_path / "holder.json"
    path.write_text(__import__("json").dumps(Account.encrypt(dev_key(1), PASSWORD, iterations=8192)))
    return path


def _bad(tmp_path: Path, world: World, case: str) -> tuple[list[str], str]:
    """(rebalance arguments, expected error) for one kind of bad input."""
    good = write_book(tmp_path)
    rpc = ["--rpc", world.node.url]
    if case == "unknown key":
        book = write_book(tmp_path, lambda raw: raw["policy"].update(slipage_bps=10))
        return ["--config", str(book), *rpc, *_key_args()], "policy.slipage_bps: unknown key"
    if case == "weights":
        book = write_book(tmp_path, lambda raw: raw["sleeves"][0].update(target="0.39"))
        return ["--config", str(book), *rpc, *_key_args()], "sleeve targets sum to 0.99, not 1"
    if case == "unreachable rpc":
        return [
            "--config",
            str(good),
            "--rpc",
            "http://127.0.0.1:9",
            *_key_args(),
        ], "http://127.0.0.1:9 failed"
    if case == "wrong password":
        wrong = tmp_path / "wrong.pw"
        wrong.write_text("not-the-password-71\n")
        return ["--config", str(good), *rpc, *_key_args(password_file=wrong)], ": wrong password"
    if case == "keystore not json":
        junk = tmp_path / "junk.json"
        junk.write_text("PRIVATE KEY 0x1234")
        return ["--config", str(good), *rpc, *_key_args(keystore=junk)], f"keystore {junk} is not JSON"
    if case == "not our vault":
        weth = world.book.dex.weth
        book = write_book(tmp_path, lambda raw: raw.update(vault=weth))
        return ["--config", str(book), *rpc, *_key_args()], f"vault {weth} does not answer keeper()"
    assert case == "not the keeper"
    holder = world.book.accounts["holder"]
    return (
        ["--config", str(good), *rpc, *_key_args(keystore=_other_keystore(tmp_path))],
        f"the key {holder} is not the keeper of vault",
    )


@pytest.mark.parametrize(
    "case",
    ["unknown key", "weights", "unreachable rpc", "wrong password", "keystore not json", "not our vault",
     "not the keeper"],
)  # fmt: skip
def test_bad_input_or_no_rpc_is_one_line_nothing_sent_and_only_a_refused_run_recorded(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    world.node.rpc("evm_mine")
    args, expected = _bad(tmp_path, world, case)
    block, nonce = world.w3.eth.block_number, _keeper_nonce(world)
    # an unreachable RPC may come back: transient (75), not bad input
    assert main(["rebalance", *args, "--yes"]) == (75 if case == "unreachable rpc" else 2)
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("ammkeeper: error: ") and expected in line
    for password in ("not-the-password-71", PASSWORD):
        assert password not in captured.err + captured.out
    assert (world.w3.eth.block_number, _keeper_nonce(world)) == (block, nonce)
    book = Path(args[args.index("--config") + 1])
    with open_journal(book) as journal:
        assert (journal.count("runs"), journal.count("intents"), journal.count("attempts")) == (1, 0, 0)
        (run,) = journal.runs()
    assert run["status"] == "refused" and expected in run["message"]
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*.journal.sqlite*"))
    assert b"not-the-password-71" not in journal_bytes and PASSWORD.encode() not in journal_bytes


def test_gas_above_the_books_maximum_fee_sends_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path, lambda raw: raw.update(fees={"max_fee_gwei": "0.000001"}))
    nonce = _keeper_nonce(world)
    assert main(["rebalance", "--config", str(book), "--rpc", world.node.url, *_key_args(), "--yes"]) == 1
    assert "gas too expensive: next base fee" in capsys.readouterr().err
    assert _keeper_nonce(world) == nonce
    (run,) = journal_records(book)
    assert run["status"] == "refused" and run["intents"] == []


def test_ape_run_rebalance_and_the_plain_script(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    options = ["--config", str(book), "--rpc", world.node.url, *_key_args()]
    script = subprocess.run(
        [str(BIN / "python"), "scripts/rebalance.py", *options, "--dry-run"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert script.returncode == 0, script.stderr
    assert "realized equals predicted" in script.stdout
    nonce = _keeper_nonce(world)
    # ape's own --network and --account: the keeper's keyfile as ape keeps it (~/.ape/accounts)
    ape_data = tmp_path / "ape"
    (ape_data / "accounts").mkdir(parents=True)
    (ape_data / "accounts" / "hot.json").write_bytes(ensure_world().keeper_keystore.read_bytes())
    files = ensure_world()
    ape_options = ["--network", world.node.url, "--account", "hot", "--config", str(book),
                   "--password-file", str(files.keeper_password)]  # fmt: skip
    env = {**os.environ, "APE_DATA_FOLDER": str(ape_data)}
    ape = subprocess.run(
        [str(BIN / "ape"), "run", "rebalance", *ape_options, "--yes"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert ape.returncode == 0, ape.stdout + ape.stderr
    assert "realized equals predicted: every op" in ape.stdout
    assert _keeper_nonce(world) == nonce + 1
    assert [r["status"] for r in journal_records(book)] == ["executed", "dry-run matched"]


def test_the_raw_transaction_is_in_the_journal_before_the_node_sees_it(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    seen: list[tuple[str, bool]] = []

    def check(request: dict[str, Any]) -> None:
        if request.get("method") == "eth_sendRawTransaction":
            (raw,) = request["params"]
            with open_journal(book) as journal:
                saved = journal._db.execute("SELECT 1 FROM attempts WHERE raw = ?", (raw,)).fetchone()
            seen.append((raw, saved is not None))

    with fault_proxy(world.node.url, fail=set(), before=check) as proxy:
        assert main(["rebalance", "--config", str(book), "--rpc", proxy, *_key_args(), "--yes"]) == 0
    assert len(seen) == 1 and seen[0][1], seen


def _unsent_intent(world: World, book: Path, *, deadline: int, with_attempt: bool) -> None:
    """An intent as a run that died leaves it: planned, maybe signed, never broadcast."""
    keeper = world.book.accounts["keeper"]
    with open_journal(book) as journal:
        run = journal.start_run("rebalance", book)
        intent = journal.add_intent(
            run, fork=False, chain_id=world.w3.eth.chain_id, vault=world.book.accounts["vault"],
            keeper=keeper, block=world.w3.eth.block_number, block_hash="0x" + "00" * 32,
            bundle_id="0x" + "77" * 32, deadline=deadline, calldata="0x", plan={"plan": {"ops": []}},
        )  # fmt: skip
        if with_attempt:
            journal.add_attempt(
                intent, nonce=_keeper_nonce(world), tx_hash="0x" + "99" * 32, raw="0x02f8", max_fee=1, tip=1,
                gas_limit=21_000,
            )  # fmt: skip
        journal.end_run(run, "failed", "killed")


@pytest.mark.parametrize("case", ["never signed", "nonce used", "past deadline"])
def test_a_run_that_died_before_broadcasting_is_settled_by_the_next(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    latest = world.w3.eth.get_block("latest")["timestamp"]
    deadline = latest - 1 if case == "past deadline" else latest + 3600
    _unsent_intent(world, book, deadline=deadline, with_attempt=case != "never signed")
    if case == "nonce used":  # another transaction of the keeper took the nonce
        keeper = world.book.accounts["keeper"]
        world.w3.eth.wait_for_transaction_receipt(
            world.w3.eth.send_transaction({"from": keeper, "to": keeper})
        )
        world.node.rpc("evm_mine")
    nonce = _keeper_nonce(world)
    assert main(_args(world, book, "--yes")) == 0
    expected = {
        "never signed": "journal: intent #1: never signed; abandoned",
        "nonce used": f"journal: intent #1: its nonce {nonce - 1} was used by another transaction; abandoned",
        "past deadline": "journal: intent #1: dropped and past its deadline; abandoned",
    }[case]
    assert expected in capsys.readouterr().out
    runs = journal_records(book)
    assert runs[1]["intents"][0]["status"] == "abandoned"
    assert runs[0]["status"] == "executed" and _keeper_nonce(world) == nonce + 1


def test_another_transaction_after_ours_in_the_same_block_does_not_spoil_the_outcome(
    world: World, tmp_path: Path, manual_mining: None
) -> None:
    """Realized is the bundle's own: per op from its logs, reserves from its last Sync of each pair."""
    book = write_book(tmp_path)
    whale = world.book.accounts["whale"]
    nonce = _keeper_nonce(world)
    process = subprocess.Popen(
        [str(BIN / "ammkeeper"), *_args(world, book, "--yes")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _keeper_nonce(world) == nonce and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert _keeper_nonce(world) == nonce + 1, process.communicate()
    # the whale moves USDC into WETH/USDC and syncs it, with no tip: mined after our bundle
    pair = world.pair("WETH/USDC")
    usdc = world.token("USDC")
    base_fee = int(world.w3.eth.get_block("pending")["baseFeePerGas"])
    fees = {"from": whale, "maxPriorityFeePerGas": 0, "maxFeePerGas": base_fee}
    world.w3.eth.send_transaction({**fees, "to": usdc.address,
                                   "data": usdc.encode_abi("transfer", [pair.address, 10**12])})  # fmt: skip
    world.w3.eth.send_transaction({**fees, "to": pair.address, "data": pair.encode_abi("sync", [])})
    world.node.rpc("evm_mine")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert "realized equals predicted: every op, balance and pair's reserves after it" in out
    (run,) = journal_records(book)
    tx_hash = run["intents"][0]["outcome"]["tx_hash"]
    block = world.w3.eth.get_block(world.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])
    assert len(block["transactions"]) == 3 and "0x" + bytes(block["transactions"][0]).hex() == tx_hash


def test_after_a_rebalance_burns_and_mints_lp_the_entries_follow_the_journal(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan` used to value the new LP against the old entry: fees -20,460.21 after one rebalance."""
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    pairs = {e.address for e in world.book.pairs.values()}

    def fees() -> tuple[dict[str, Fraction], Fraction]:
        assert main(["plan", "--config", str(book), "--rpc", world.node.url, "--json", "--no-simulate"]) == 0
        report = json.loads(capsys.readouterr().out)
        by_sleeve = {s["label"]: Fraction(s["fee_income"]) for s in report["sleeves"] if s["fee_income"]}
        return by_sleeve, Fraction(report["total"])

    before, total = fees()
    # nothing traded since entry: no fees but for the entry's rounding (12 significant digits)
    assert before and all(abs(f) < total / 10**9 for f in before.values()), before
    assert main(_args(world, book, "--yes")) == 0
    capsys.readouterr()
    (run,) = journal_records(book)
    ops = run["intents"][0]["outcome"]["realized"]["ops"]
    assert any(a in pairs for op in ops for side in ("spent", "received") for a in op["realized"][side])
    after, total = fees()
    # the bundle's own swaps paid LP fees into pairs the book holds: a sliver, never negative
    assert all(0 <= f < total / 10_000 for f in after.values()), after
