"""`ammkeeper dry-run`: the plan executed on an anvil fork of the world, predicted against realized."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from tests.chain.books import journal_records, vault_holdings, write_book
from tests.chain.conftest import World
from tests.chain.fault_proxy import fault_proxy

BIN = Path(sys.executable).parent
FORK_LINE = re.compile(r"fork: anvil pid (\d+) at (http://\S+), forked from \S+ at block (\d+)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): read its state
    status = Path(f"/proc/{pid}/status")
    return status.is_file() and "State:\tZ" not in status.read_text()


def test_the_plan_runs_on_a_fork_exactly_as_predicted_and_the_base_chain_is_untouched(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    before = (world.w3.eth.block_number, vault_holdings(world))
    book = write_book(tmp_path)
    assert main(["dry-run", "--config", str(book), "--fork-url", world.node.url]) == 0
    out = capsys.readouterr().out
    pid, _, block = FORK_LINE.search(out).groups()  # type: ignore[union-attr]
    assert int(block) == before[0]
    assert not _alive(int(pid))  # the fork is stopped
    assert "--- executed on the fork as the keeper ---" in out
    assert out.count("(equal)") == out.count("realized  ") > 0  # every op, realized equal to predicted
    assert "realized equals predicted: every op, balance and pair state, to the wei" in out
    assert "weights (before -> target / predicted / realized):" in out
    assert (
        world.w3.eth.block_number,
        vault_holdings(world),
    ) == before  # nothing happened on the chain that was forked
    (run,) = journal_records(book)
    assert (run["kind"], run["status"]) == ("dry-run", "matched")
    assert run["keeper"] == world.book.accounts["keeper"]
    (intent,) = run["intents"]
    assert intent["fork"] == 1 and intent["status"] == "executed" and intent["attempts"] == []
    outcome = intent["outcome"]
    assert outcome["matches"] == 1 and outcome["success"] == 1
    assert all(op["predicted"] == op["realized"] for op in outcome["realized"]["ops"])
    predicted = intent["plan"]["predicted"]
    assert {a: b["realized"] for a, b in outcome["realized"]["balances"].items()} == {
        **predicted["balances"],
        **predicted["lp"],
    }
    # and `ammkeeper journal` shows it, as a table, in full, and as JSON
    assert main(["journal", "--config", str(book)]) == 0
    table = capsys.readouterr().out
    assert "dry-run" in table and "matched" in table and "#1 executed (fork)" in table
    assert main(["journal", "--config", str(book), str(run["id"])]) == 0
    full = capsys.readouterr().out
    assert f"intent #1: executed on a fork, block {before[0]}" in full and "realized equals predicted" in full
    # in symbols and token units, UTC times, gwei and native: no raw address keys, epochs or wei
    assert (
        re.search(r"op 1: .*: [0-9.]+ [A-Z/]+( LP)? ", full)
        and "0x" not in full.split("op 1:")[1].split("\n")[0]
    )
    assert re.search(r"deadline \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", full)
    assert re.search(r"fee [0-9.]+ native: realized equals predicted", full) and " wei" not in full
    assert main(["journal", "--config", str(book), str(run["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["intents"][0]["outcome"]["tx_hash"] == outcome["tx_hash"]
    # --json: the plan, the checks and what the fork did, one object
    assert main(["dry-run", "--config", str(book), "--fork-url", world.node.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["matches"] is True and report["executed"]["tx_hash"].startswith("0x")
    assert report["decision"] == "rebalance" and report["checks"]
    assert main(["journal", "--journal", str(tmp_path / "none.sqlite")]) == 2
    assert "no journal at" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()


def test_a_fork_at_an_earlier_block_plans_from_that_block(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    earlier = world.w3.eth.block_number
    world.node.rpc("evm_mine")
    world.node.rpc("evm_mine")
    book = write_book(tmp_path)
    assert (
        main(["dry-run", "--config", str(book), "--fork-url", world.node.url, "--block", str(earlier)]) == 0
    )
    out = capsys.readouterr().out
    assert f"at block {earlier}" in FORK_LINE.search(out).group(0)  # type: ignore[union-attr]
    assert f"at block {earlier}, in USDC" in out  # the book was read at the fork block
    (run,) = journal_records(book)
    assert run["intents"][0]["block"] == earlier


def _misjudged_fot(slippage_bps: int) -> Any:
    """A book that takes FOT (1% a transfer) for a plain token and sells its FOT/WETH LP: a fee on
    a pair is caught before anything runs (the vault's fee must be the book's), a token's fee on
    transfer only when the tokens arrive short."""

    def change(raw: dict[str, Any]) -> None:
        raw["tokens"]["FOT"] = (
            raw["tokens"]["FOT"]["address"]
            if isinstance(raw["tokens"]["FOT"], dict)
            else raw["tokens"]["FOT"]
        )
        raw["sleeves"].append({"pair": "FOT/WETH", "target": 0})
        raw["policy"]["slippage_bps"] = slippage_bps

    return change


def test_a_book_that_misjudges_its_pairs_fails_the_dry_run_with_a_report(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path, _misjudged_fot(slippage_bps=300))
    assert main(["dry-run", "--config", str(book), "--fork-url", world.node.url]) == 1
    out = capsys.readouterr().out
    assert "REALIZED DIFFERS FROM PREDICTED:" in out
    assert "(DIFFERENT)" in out and "(equal)" in out  # the burns still match, the swaps do not
    assert re.search(r"op \d+ \(sell FOT for \w+", out)  # the short FOT, named
    # in token units with the gap, not raw integers or a dataclass's repr
    assert re.search(r"balance of USDC: predicted [0-9.]+, got [0-9.]+ \(-[0-9.]+\)", out), out
    assert "PairState(" not in out and re.search(
        r"pair FOT/WETH: predicted [0-9.]+ \w+ \+ [0-9.]+ \w+ and", out
    )
    (run,) = journal_records(book)
    assert run["status"] == "mismatch" and run["intents"][0]["outcome"]["matches"] == 0


def test_a_bundle_that_reverts_on_the_fork_is_reported_with_its_reason(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    book = write_book(tmp_path, _misjudged_fot(slippage_bps=0))  # minimums equal the (too high) prediction
    assert main(["dry-run", "--config", str(book), "--fork-url", world.node.url]) == 1
    out = capsys.readouterr().out
    assert ": REVERTED, gas used" in out
    assert re.search(
        r"the bundle reverted: executor: op \d+: burn amount1 below minimum", out
    )  # the FOT short
    (run,) = journal_records(book)
    assert run["status"] == "reverted"
    assert run["intents"][0]["outcome"]["success"] == 0


def test_an_unreachable_source_is_transient_and_a_broken_anvil_a_failed_fork(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    book = write_book(tmp_path)
    assert main(["dry-run", "--config", str(book), "--fork-url", "http://127.0.0.1:9"]) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eth_blockNumber to http://127.0.0.1:9 failed" in err[0]
    monkeypatch.setenv("AMMKEEPER_ANVIL", "/bin/false")
    assert main(["dry-run", "--config", str(book), "--fork-url", world.node.url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the fork cannot start: anvil exited with code 1" in err[0]
    assert [r["status"] for r in journal_records(book)] == ["failed", "refused"]  # newest first


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_dry_run_stops_its_fork(world: World, tmp_path: Path, sig: signal.Signals) -> None:
    book = write_book(tmp_path)
    process = subprocess.Popen(
        [str(BIN / "ammkeeper"), "dry-run", "--config", str(book), "--fork-url", world.node.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    found = FORK_LINE.search(line)
    assert found, line
    pid = int(found.group(1))
    assert _alive(pid)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip() == "ammkeeper: interrupted"
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    (run,) = journal_records(book)
    assert run["status"] == "interrupted"


def test_an_api_key_in_the_fork_url_never_shows(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "k3y-of-the-user-0042"
    book = write_book(tmp_path)
    with fault_proxy(world.node.url, fail=set()) as proxy:
        url = f"{proxy}/v3/{secret}"
        assert main(["dry-run", "--config", str(book), "--fork-url", url]) == 0
        captured = capsys.readouterr()
        assert "realized equals predicted" in captured.out
        assert secret not in captured.out + captured.err
        # an anvil that fails and prints its arguments (the real one logs the fork URL)
        fake = tmp_path / "anvil"
        fake.write_text('#!/bin/sh\necho "cannot fork: $*"\nexit 1\n')
        fake.chmod(0o755)
        monkeypatch.setenv("AMMKEEPER_ANVIL", str(fake))
        assert main(["dry-run", "--config", str(book), "--fork-url", url]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "the fork cannot start: anvil exited with code 1: cannot fork:" in line
        assert secret not in line and f"--fork-url {proxy}/***" in line
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*.journal.sqlite*"))
    assert secret.encode() not in journal_bytes


def test_an_upstream_failure_quoted_by_the_fork_is_scrubbed(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fork asks the source for state on demand; when that fails, anvil's error quotes the source URL."""
    secret = "k3y-of-the-user-0043"
    book = write_book(tmp_path)
    state = {"eth_getStorageAt", "eth_getCode", "eth_getBalance", "eth_getTransactionCount", "eth_getAccount",
             "eth_getProof", "eth_getAccountInfo"}  # fmt: skip
    failing: set[str] = set()

    def arm(request: dict[str, Any]) -> None:  # the fork is up once it reads storage: fail from then on
        if request.get("method") == "eth_getStorageAt":
            failing.update(state)

    with fault_proxy(world.node.url, fail=failing, before=arm) as proxy:
        # the source failing is transient (75)
        assert main(["dry-run", "--config", str(book), "--fork-url", f"{proxy}/v3/{secret}"]) == 75
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    # which state anvil fetches first (an account or a storage slot) is its own affair
    assert line.startswith("ammkeeper: error: ") and re.search(r"failed to get (storage|account)", line)
    assert secret not in captured.out + captured.err
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*.journal.sqlite*"))
    assert secret.encode() not in journal_bytes
    (run,) = journal_records(book)
    assert run["status"] in ("refused", "failed") and re.search(
        r"failed to get (storage|account)", run["message"]
    )
