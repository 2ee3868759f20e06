"""Backtest equals live: the demo's keeper runs on the world while a market trades; a `chain`
backtest of the recorded blocks with the demo's book rebalances at the same blocks with the same
ops and amounts, to the wei. The same history read through a node that caps eth_getLogs ranges,
answers 429 and then fails outright is resumed from its cache and gives the same run."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.cli import demo
from bot.cli.main import main
from tests.chain.fault_proxy import fault_proxy

BLOCKS = 90
CAP = 20  # the faulty node's widest eth_getLogs range


def backtest(url: str, first: int, last: int, book: Path, cache: Path) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["backtest", "--config", str(book), "--rpc", url, "--history", "chain",
             "--from-block", str(first), "--to-block", str(last), "--json", "--cache-dir", str(cache)]
        )  # fmt: skip
    return code, json.loads(out.getvalue()) if code == 0 else None, err.getvalue()


def live_bundles(book: Path) -> list[dict[str, Any]]:
    """What the demo's keeper planned at which block, where it landed, and what each op moved."""
    db = sqlite3.connect(book.with_name("book.journal.sqlite"))
    rows = db.execute(
        "SELECT i.block, o.block, o.realized FROM intents i JOIN outcomes o ON o.intent_id = i.id "
        "WHERE o.success = 1 ORDER BY o.block"
    ).fetchall()
    db.close()
    return [
        {"decided_block": planned, "block": landed,
         "ops": [{"spent": op["spent"], "received": op["received"]} for op in json.loads(realized)["ops"]]}
        for planned, landed, realized in rows
    ]  # fmt: skip


def test_a_chain_backtest_of_the_demo_rebalances_as_the_keeper_did(tmp_path: Path) -> None:
    checked: dict[str, Any] = {}

    def then(url: str, first: int, last: int, book: Path) -> None:
        code, report, err = backtest(url, first, last, book, tmp_path / "direct")
        assert code == 0, err
        checked["direct"] = report
        checked["live"] = live_bundles(book)
        # the same history through a node that refuses wide ranges and rate-limits, then goes down
        seen = {"logs": 0, "capped": 0, "limited": 0, "served": 0}
        down, was_down = threading.Event(), threading.Event()

        def faulty(request: dict[str, Any]) -> tuple[Any, ...] | None:
            if request.get("method") != "eth_getLogs":
                return None
            seen["logs"] += 1
            if down.is_set():
                return (503, {})
            query = request["params"][0]
            if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > CAP:
                seen["capped"] += 1
                body = {
                    "jsonrpc": "2.0",
                    "id": request["id"],
                    "error": {"code": -32005, "message": f"block range is too wide: max {CAP} blocks"},
                }
                return (200, {"Content-Type": "application/json"}, json.dumps(body).encode())  # fmt: skip
            if seen["logs"] % 3 == 0:
                seen["limited"] += 1
                return (429, {"Retry-After": "0"})
            seen["served"] += 1
            if seen["served"] == 2 and not was_down.is_set():
                was_down.set()
                down.set()  # after two spans the node goes down: the read stops, its spans kept
            return None

        cache = tmp_path / "faulty"
        with fault_proxy(url, fault=faulty) as proxy:
            code, _, err = backtest(proxy, first, last, book, cache)
            assert code == 75, err
            assert "cached" in err and "run again" in err and "\n" not in err.strip()
            down.clear()  # up again: the next run goes on from the cache
            code, report, err = backtest(proxy, first, last, book, cache)
        assert code == 0, err
        assert seen["capped"] > 0 and seen["limited"] > 0
        checked["resumed"] = report

    assert demo.run(lambda _: None, BLOCKS, tmp_path / "demo", then) == 0
    live = checked["live"]
    assert live, "the demo's keeper rebalanced"
    policy = checked["direct"][0]["policies"][0]
    replayed = [
        {"decided_block": r["decided_block"], "block": r["block"],
         "ops": [{"spent": op["spent"], "received": op["received"]} for op in r["ops"]]}
        for r in policy["rebalance_list"]
    ]  # fmt: skip
    assert replayed == live
    assert len(policy["rebalance_list"]) == len(live) >= 1 and all(r["ops"] for r in live)
    # and the resumed read through the faulty node gave the same history, so the same run
    resumed = checked["resumed"][0]["policies"][0]
    assert resumed == policy


@pytest.mark.parametrize(
    "args", [["--history", "chain"], ["--history", "scenario:calm", "--from-block", "3"]]
)
def test_chain_options_go_together(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(
        'vault = "0x0000000000000000000000000000000000000001"\nnumeraire = "USDC"\n'
        '[tokens]\nUSDC = "0x0000000000000000000000000000000000000002"\n'
        'WETH = "0x0000000000000000000000000000000000000003"\n'
        '[pairs]\n"WETH/USDC" = "0x0000000000000000000000000000000000000004"\n'
        '[[sleeves]]\npair = "WETH/USDC"\ntarget = 1\n'
    )
    assert main(["backtest", "--config", str(book), "--rpc", "http://127.0.0.1:9", *args]) == 2
    err = capsys.readouterr().err
    assert "--from-block" in err and "\n" not in err.strip()
