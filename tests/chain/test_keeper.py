"""The keeper loop on the world: it rebalances on its own, holds in band, pauses, and settles what it sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from anvil.wide_world import widen
from bot.core.book import Book
from bot.keeper.step import Step
from bot.ops.kill_switch import pause, pause_path, paused, resume
from bot.tx.journal import Journal, JournalError
from tests.chain.books import journal_records, vault_holdings
from tests.chain.conftest import World
from tests.chain.keeper_harness import Drive, drive, keeper_book


def _keeper_nonce(world: World) -> int:
    return int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"], "pending"))


def _count(steps: list[Step], action: str) -> int:
    return sum(s.action == action for s in steps)


def test_the_keeper_rebalances_a_drifted_book_then_holds_it_in_band(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    nonce = _keeper_nonce(world)
    # the world's book starts drifted: one bundle, then the book is inside its bands for heads on end
    run = drive(world, book, lambda steps: _count(steps, "hold") >= 4, mine_every_s=0.1)
    actions = run.actions()
    assert _count(run.steps, "sent") == 1 and actions.index("sent") < actions.index("hold")
    sent = next(s for s in run.steps if s.action == "sent")
    assert sent.tx_hash and sent.decide_ms is not None and sent.broadcast_ms is not None
    assert _keeper_nonce(world) == nonce + 1
    (record,) = journal_records(book)
    (intent,) = record["intents"]
    assert intent["status"] == "executed" and intent["outcome"]["tx_hash"] == sent.tx_hash
    assert intent["outcome"]["matches"] == 1
    predicted = intent["plan"]["predicted"]
    assert {a: str(v) for a, v in vault_holdings(world).items()} == {
        **predicted["balances"],
        **predicted["lp"],
    }
    holds = [s for s in run.steps if s.action == "hold"]
    assert all("inside" in s.reason or "band" in s.reason for s in holds), holds[0].reason


def test_the_keeper_rebalances_a_20_sleeve_book_exactly(world: World, tmp_path: Path) -> None:
    # the world widened by ten tokens and pairs, the vault's LP in each; then 12 s blocks past the
    # TWAP window, so the new pairs have a price history
    wide, text = widen(world.node.url, world.book)
    book = tmp_path / "wide.toml"
    book.write_text(text.replace("[prices]", "[keeper]\nblock_time_s = 0.05\n\n[prices]"))
    parsed = Book.load(book)
    assert len(parsed.sleeves) == 20 and sum(s.target for s in parsed.sleeves) == 1
    world.node.rpc("anvil_mine", hex(parsed.prices.twap_window_s // 12 + 1), hex(12))
    run = drive(world, book, lambda steps: _count(steps, "hold") >= 2, mine_every_s=0.1)
    assert _count(run.steps, "sent") == 1, run.actions()
    (record,) = journal_records(book)
    (intent,) = record["intents"]
    assert intent["status"] == "executed" and intent["outcome"]["matches"] == 1
    ops = intent["plan"]["plan"]["ops"]
    assert len(ops) >= 5, ops  # burns, swaps and mints across the book, in one bundle
    predicted = intent["plan"]["predicted"]
    assert {a: str(v) for a, v in vault_holdings(world, wide).items()} == {
        **predicted["balances"],
        **predicted["lp"],
    }


def test_a_paused_keeper_sends_nothing_and_resumes(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    flag = pause_path(book, Book.load(book))
    pause(flag, "maintenance window")
    nonce = _keeper_nonce(world)
    run = drive(world, book, lambda steps: len(steps) >= 5, mine_every_s=0.05)
    assert run.actions() == ["paused"] * 5
    assert all(s.reason.startswith("maintenance window") for s in run.steps)
    assert _keeper_nonce(world) == nonce and journal_records(book)[0]["intents"] == []
    assert resume(flag)
    run = drive(world, book, lambda steps: _count(steps, "sent") == 1, mine_every_s=0.05)
    assert _keeper_nonce(world) == nonce + 1


def test_metrics_and_health_answer_while_the_keeper_runs(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    seen: dict[str, object] = {}

    async def scrape(step: Step, run: Drive) -> None:
        if step.action != "sent" or "metrics" in seen:
            return
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{run.metrics_url}/metrics") as response:
                seen["metrics"] = await response.text()
                seen["type"] = response.headers["Content-Type"]
            async with session.get(f"{run.metrics_url}/healthz") as response:
                seen["status"] = response.status
                seen["health"] = json.loads(await response.text())

    def until(steps: list[Step]) -> bool:
        return "metrics" in seen or len(steps) > 20

    run = drive(world, book, until, mine_every_s=0.05, metrics="127.0.0.1:0", on_step=scrape)
    assert run.metrics_url
    text = str(seen["metrics"])
    assert str(seen["type"]).startswith("text/plain")
    assert 'ammkeeper_heads_total{action="sent"} 1' in text
    assert 'ammkeeper_sleeve_drift{sleeve="WETH/USDC"}' in text
    assert "ammkeeper_paused 0" in text and "ammkeeper_head " in text
    health = seen["health"]
    assert seen["status"] == 200
    assert isinstance(health, dict) and health["status"] == "ok" and health["paused"] is None


def test_heads_by_eth_subscribe_over_a_websocket(world: World, tmp_path: Path) -> None:
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    ws = world.node.url.replace("http://", "ws://")
    run = drive(world, book, lambda steps: _count(steps, "hold") >= 2, rpc=[ws], mine_every_s=0.1)
    assert _count(run.steps, "sent") == 1
    heads = [s.head for s in run.steps]
    assert heads == sorted(heads) and len(set(heads)) == len(heads)  # each head once, in order


def test_failures_trip_the_breaker_which_pauses_and_alerts(world: World, tmp_path: Path) -> None:
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def broken(raw: dict[str, Any]) -> None:
        # a book that takes FOT (1% a transfer) for a plain token, sells its FOT/WETH LP and allows
        # no slippage: every bundle reverts at its own block (its FOT arrives short)
        fot = raw["tokens"]["FOT"]
        raw["tokens"]["FOT"] = fot["address"] if isinstance(fot, dict) else fot
        raw["sleeves"].append({"pair": "FOT/WETH", "target": 0})
        raw["policy"]["slippage_bps"] = 0
        raw["guards"] = {"max_failures": 2}
        raw["alerts"] = {"webhook": f"http://127.0.0.1:{server.server_address[1]}/hooks/SECRETHOOK"}

    try:
        world.node.rpc("evm_mine")
        book = keeper_book(tmp_path, broken)
        nonce = _keeper_nonce(world)
        run = drive(world, book, lambda steps: _count(steps, "paused") >= 2, mine_every_s=0.05)
    finally:
        server.shutdown()
        server.server_close()
    actions = run.actions()
    assert actions[:2] == ["failed", "failed"] and set(actions[2:]) == {"paused"}
    assert "the bundle reverts at the block it was planned at" in run.steps[0].reason
    reason = paused(pause_path(book, Book.load(book)))
    assert reason is not None and reason.startswith("circuit breaker: 2 failures in a row")
    kinds = [r["kind"] for r in received]
    assert kinds == ["failure", "breaker", "paused"], kinds
    assert all(r["book"] == "world" for r in received)
    assert _keeper_nonce(world) == nonce and journal_records(book)[0]["intents"] == []


def test_a_journal_that_cannot_write_is_a_failure_that_trips_the_breaker_not_a_silent_wait(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JournalError used to become "waiting" forever, with no alert; now it is the keeper's own
    failure: logged with its kind, counted, and the breaker pauses the keeper. Nothing is sent."""

    def full_disk(*args: Any, **kwargs: Any) -> int:
        raise JournalError("journal book.journal.sqlite: database or disk is full")

    monkeypatch.setattr(Journal, "add_intent", full_disk)
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path, lambda raw: raw.update(guards={"max_failures": 2}))
    nonce = int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"]))
    run = drive(world, book, lambda steps: _count(steps, "paused") >= 1, mine_every_s=0.05)
    failed = [s for s in run.steps if s.action == "failed"]
    assert len(failed) == 2 and all(s.reason.startswith("JournalError: ") for s in failed)
    reason = paused(pause_path(book, Book.load(book)))
    assert reason is not None and reason.startswith("circuit breaker: 2 failures in a row")
    assert int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"])) == nonce


def test_the_keeper_does_not_rebalance_into_a_crash_it_has_not_seen_last(
    world: World, tmp_path: Path
) -> None:
    """A 52% crash used to be rebalanced into within one head: spot was compared with spot."""
    world.double_reserve("WETH/USDC", "WETH")
    book = keeper_book(tmp_path)
    nonce = int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"]))
    run = drive(world, book, lambda steps: _count(steps, "refused") >= 3, mine_every_s=0.05)
    refused = [s for s in run.steps if s.action == "refused"]
    assert all(s.reason.startswith("twap_deviation: WETH spot is") for s in refused), refused
    assert "sent" not in run.actions()
    assert int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"])) == nonce
