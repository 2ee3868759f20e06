"""`ammkeeper run` as a process: killed mid-transaction and restarted, stopped by SIGTERM, 429s, bad input."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from anvil.world import ACCOUNT_NAMES, dev_key
from bot.cli.main import main
from bot.keeper.step import Step
from bot.tx.journal import default_path
from tests.chain.books import journal_records
from tests.chain.conftest import World
from tests.chain.fault_proxy import fault_proxy
from tests.chain.keeper_harness import Drive, drive, keeper_book, kill_while_held, start_keeper

KEY = dev_key(ACCOUNT_NAMES.index("keeper"))


def _keeper_nonce(world: World, tag: str = "latest") -> int:
    return int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"], tag))


def _wait_for(book: Path, sql: str, process: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    """Until the journal answers `sql` with a row (read-only, beside the running keeper)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        if default_path(book).exists():
            with sqlite3.connect(f"file:{default_path(book)}?mode=ro", uri=True) as db:
                try:
                    if db.execute(sql).fetchone() is not None:
                        return
                except sqlite3.OperationalError:  # the schema is being created
                    pass
        time.sleep(0.05)
    raise AssertionError(f"the journal never answered {sql}")


def test_a_keeper_killed_mid_transaction_neither_resends_nor_loses_it(
    world: World, tmp_path: Path, manual_mining: None
) -> None:
    book = keeper_book(tmp_path)
    nonce = _keeper_nonce(world)
    process = start_keeper(book, world.node.url)
    try:
        _wait_for(book, "SELECT 1 FROM attempts WHERE status = 'broadcast'", process)
    finally:
        process.kill()  # SIGKILL: no chance to record anything
        process.communicate()
    assert _keeper_nonce(world, "pending") == nonce + 1 and _keeper_nonce(world) == nonce
    first_steps: list[str] = []

    def step(step: Step, run: Drive) -> None:
        first_steps.append(step.action)
        world.node.rpc("evm_mine")

    restarted = drive(world, book, lambda steps: steps[-1].action == "hold", on_step=step)
    # the restarted keeper waited for the transaction in flight, recorded it, planned nothing new
    assert first_steps[0] == "waiting" and "sent" not in restarted.actions()
    assert _keeper_nonce(world) == nonce + 1 == _keeper_nonce(world, "pending")
    intents = [i for r in journal_records(book) for i in r["intents"]]
    assert len(intents) == 1 and intents[0]["status"] == "executed"
    assert intents[0]["outcome"]["matches"] == 1


@pytest.mark.parametrize("reached", [False, True], ids=["send-never-arrived", "answer-lost"])
def test_a_keeper_killed_while_its_send_is_in_the_air_executes_it_once(
    world: World, tmp_path: Path, manual_mining: None, reached: bool
) -> None:
    book = keeper_book(tmp_path)
    nonce = _keeper_nonce(world)
    # SIGKILL while eth_sendRawTransaction is in the air; then it goes on to the node (its answer
    # lost), or not
    sent = kill_while_held(world, book, lambda r: r["method"] == "eth_sendRawTransaction", forward=reached)
    assert sent, "the keeper never sent"
    with sqlite3.connect(default_path(book)) as db:  # the raw bytes were saved before the send
        assert db.execute("SELECT status FROM attempts").fetchall() == [("signed",)]
    deadline = time.monotonic() + 30  # the proxy forwards in its own thread
    while reached and _keeper_nonce(world, "pending") == nonce and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _keeper_nonce(world, "pending") == nonce + int(reached)

    def step(step: Step, run: Drive) -> None:
        world.node.rpc("evm_mine")

    restarted = drive(world, book, lambda steps: steps[-1].action == "hold", on_step=step)
    # the restarted keeper (re)broadcast the saved bytes or found them pending, and planned nothing new
    assert restarted.actions()[0] == "waiting" and "sent" not in restarted.actions()
    assert _keeper_nonce(world) == nonce + 1 == _keeper_nonce(world, "pending")
    intents = [i for r in journal_records(book) for i in r["intents"]]
    assert len(intents) == 1 and intents[0]["status"] == "executed"
    assert intents[0]["outcome"]["matches"] == 1 and len(intents[0]["attempts"]) == 1


def test_sigterm_stops_the_keeper_gracefully_with_json_logs_and_no_secret(
    world: World, tmp_path: Path
) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    with fault_proxy(world.node.url) as proxy:
        process = start_keeper(book, f"{proxy}/v3/SECRETKEY123?apikey=SECRETQUERY", "--log-format", "json")
        try:
            _wait_for(book, "SELECT 1 FROM intents WHERE status = 'executed'", process)
            time.sleep(0.3)  # a few more heads
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line is one JSON object
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    actions = [line.get("action") for line in lines]
    assert "sent" in actions and "hold" in actions
    sent = next(line for line in lines if line.get("action") == "sent")
    assert sent["head"] > 0 and sent["tx_hash"].startswith("0x") and sent["broadcast_ms"] > 0
    assert "SECRET" not in stderr and KEY[2:] not in stderr
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*.journal.sqlite*"))
    assert b"SECRET" not in journal_bytes and KEY[2:].encode() not in journal_bytes
    (run,) = journal_records(book)
    assert run["status"] == "stopped" and run["message"] == "sent 1; in flight: nothing"


def test_a_429_is_retried_after_retry_after(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    arrivals: list[tuple[float, str, int]] = []
    lock = threading.Lock()

    def limited(request: dict[str, Any]) -> tuple[int, dict[str, str]] | None:
        with lock:
            limit = sum(1 for _, _, status in arrivals if status == 429) < 2
            status = 429 if limit and request["method"] == "eth_call" else 200
            arrivals.append((time.monotonic(), request["method"], status))
        return (429, {"Retry-After": "1"}) if status == 429 else None

    with fault_proxy(world.node.url, fault=limited) as proxy:
        run = drive(world, book, lambda steps: "sent" in [s.action for s in steps], rpc=[proxy])
    assert run.actions()[-1] == "sent"
    limited_at = [i for i, (_, _, status) in enumerate(arrivals) if status == 429]
    assert len(limited_at) == 2
    for i in limited_at:  # the next request came no sooner than Retry-After said
        assert arrivals[i + 1][0] - arrivals[i][0] >= 0.95
        assert arrivals[i + 1][1] == "eth_call"


def test_failover_to_the_second_endpoint_and_cross_check_there(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    checked: list[str] = []
    with (
        fault_proxy(world.node.url, fail={"eth_call", "eth_getBlockByNumber"}) as broken,
        fault_proxy(world.node.url, before=lambda r: checked.append(r["method"])) as good,
    ):
        run = drive(world, book, lambda steps: "sent" in [s.action for s in steps], rpc=[broken, good])
    assert run.actions()[-1] == "sent"
    assert run.keeper is not None
    assert "eth_call" in checked


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "no key: pass --keystore"),
        (["--dev"], {"AMMKEEPER_DEV_KEY": ""}, "holds no private key"),
        (["--dev"], {"AMMKEEPER_DEV_KEY": "0x1234"}, "is not a private key"),
        (["--dev", "--rpc", "ftp://x/SECRET"], {"AMMKEEPER_DEV_KEY": KEY}, "is not an http(s) URL"),
        (["--metrics", "nowhere"], {}, "keeper.metrics"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    args: list[str], env: dict[str, str], message: str,
) -> None:  # fmt: skip
    def broken_metrics(raw: dict[str, Any]) -> None:
        if "--metrics" in args:
            raw["keeper"] = {"metrics": "nowhere"}

    book = keeper_book(tmp_path, broken_metrics)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rpc = [] if "--rpc" in args else ["--rpc", world.node.url]
    extra = [a for a in args if a not in ("--metrics", "nowhere")]
    nonce = _keeper_nonce(world)
    assert main(["run", "--config", str(book), *rpc, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "SECRET" not in err
    assert _keeper_nonce(world) == nonce


def test_a_paused_keeper_still_checks_its_book_at_start(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A book whose pair is a token, started paused, used to follow heads and exit 0 unchecked."""
    usdc = world.book.tokens["USDC"].address

    def token_as_pair(raw: dict[str, Any]) -> None:
        raw["pairs"]["WETH/USDC"] = usdc

    book = keeper_book(tmp_path, token_as_pair)
    assert main(["pause", "--config", str(book)]) == 0
    monkeypatch.setenv("AMMKEEPER_DEV_KEY", KEY)
    code = main(["run", "--config", str(book), "--rpc", world.node.url, "--dev", "--max-heads", "3"])
    err = capsys.readouterr().err
    assert code == 2 and f"{usdc}: is not a Uniswap V2 pair" in err
    assert "Traceback" not in err


def test_an_rpc_down_at_start_exits_75_so_the_unit_restarts_it(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four failed eth_chainId at start used to exit 2, on which deploy/ammkeeper.service never restarts."""
    book = keeper_book(tmp_path)
    monkeypatch.setenv("AMMKEEPER_DEV_KEY", KEY)
    with fault_proxy(world.node.url, fail={"eth_chainId"}) as broken:
        code = main(["run", "--config", str(book), "--rpc", broken, "--dev", "--max-heads", "1"])
    err = capsys.readouterr().err
    assert code == 75 and "eth_chainId" in err and "Traceback" not in err
    unit = (Path(__file__).resolve().parents[2] / "deploy" / "ammkeeper.service").read_text()
    assert "RestartPreventExitStatus=2" in unit and "RestartForceExitStatus=75" in unit
