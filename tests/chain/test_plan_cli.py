"""`ammkeeper plan` on the world: the book, the decision with its reason, the plan, its eth_call check."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from tests.chain.books import write_book
from tests.chain.conftest import World


def test_plan_shows_the_book_the_decision_and_a_plan_that_simulates_exactly(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")  # a block past the session's evm_revert (see test_snapshot's NOTE)
    assert main(["plan", "--config", str(write_book(tmp_path)), "--rpc", world.node.url]) == 0
    out = capsys.readouterr().out
    for label in ("WETH/USDC", "USDC [stables]", "DAI [stables]"):
        assert label in out
    assert "bucket stables (USDC, DAI)" in out
    assert "decision: REBALANCE: outside band: bucket stables" in out
    assert "costs in USDC: LP fees" in out
    assert "every balance equals the prediction" in out
    assert "via WETH/USDC" in out  # price provenance


def test_plan_json_is_exact_and_its_simulation_matches(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    assert main(["plan", "--config", str(write_book(tmp_path)), "--rpc", world.node.url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["decision"] == "rebalance"
    # exact decimals to 18 places: their sum is 1 up to one unit in the last place per sleeve
    assert abs(sum(Fraction(s["weight"]) for s in data["sleeves"]) - 1) <= Fraction(
        len(data["sleeves"]), 10**18
    )
    assert data["simulation"]["matches"] is True
    assert all(b["predicted"] == b["simulated"] for b in data["simulation"]["balances"].values())
    ops = data["plan"]["ops"]
    assert ops and all(int(op["min_out"]) >= 1 for op in ops if op["kind"] == "swap")


def test_a_book_inside_its_bands_holds_with_its_reason(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def wide(raw: dict[str, Any]) -> None:
        raw["policy"]["band"] = 0.025
        raw["buckets"]["stables"]["band"] = 0.05

    assert main(["plan", "--config", str(write_book(tmp_path, wide)), "--rpc", world.node.url]) == 0
    out = capsys.readouterr().out
    assert "decision: HOLD: inside bands; largest drift USDC" in out
    assert "plan:" not in out


def test_a_plan_that_costs_too_much_is_held_by_the_gate(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def stingy(raw: dict[str, Any]) -> None:
        raw["policy"]["max_cost_bps"] = 1

    assert main(["plan", "--config", str(write_book(tmp_path, stingy)), "--rpc", world.node.url]) == 0
    out = capsys.readouterr().out
    assert "decision: HOLD: outside band: bucket stables" in out
    assert "over the book's maximum of 1 bps" in out


def _lonely_link(raw: dict[str, Any]) -> None:
    """LINK held idle, but the only pair that prices it is gone."""
    raw["pairs"].pop("LINK/WETH")
    link = next(s for s in raw["sleeves"] if s.get("pair") == "LINK/WETH")
    link.pop("pair")
    link.pop("entry")
    link["token"] = "LINK"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.update(colour="blue"), "colour: unknown key"),
        (lambda raw: raw["sleeves"][0].update(target=0.5), "sleeve targets sum to 1.1"),
        (lambda raw: raw["sleeves"][0].update(pair="WETH/LINK"), "unknown pair WETH/LINK"),
        (lambda raw: raw["sleeves"][6].update(band=0.3), "band 0.3 is wider than its target 0.04"),
        (_lonely_link, "token LINK has no price route to USDC"),
    ],
    ids=["unknown-key", "weights", "unknown-pair", "band", "no-route"],
)
def test_a_bad_book_is_one_line_exit_2_and_nothing_runs(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, message: str
) -> None:
    path = write_book(tmp_path, change)
    assert main(["plan", "--config", str(path), "--rpc", world.node.url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and message in err and str(path) in err


def test_a_vault_that_is_not_ours_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def stranger(raw: dict[str, Any]) -> None:
        raw["vault"] = world.book.accounts["trader"]  # an EOA: no keeper()

    assert main(["plan", "--config", str(write_book(tmp_path, stranger)), "--rpc", world.node.url]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not answer keeper()" in err and "\n" not in err


def test_a_book_for_another_chain_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_book(tmp_path, lambda raw: raw.update(chain_id=1))
    assert main(["plan", "--config", str(path), "--rpc", world.node.url]) == 2
    assert "the book is for chain 1" in capsys.readouterr().err


def test_no_rpc_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.delenv("AMMKEEPER_RPC_URL", raising=False)
    assert main(["plan", "--config", str(write_book(tmp_path))]) == 2
    assert "no RPC" in capsys.readouterr().err


def test_status_with_a_book_shows_sleeves_and_the_decision(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.node.rpc("evm_mine")
    assert main(["status", "--config", str(write_book(tmp_path)), "--rpc", world.node.url]) == 0
    out = capsys.readouterr().out
    assert "sleeve" in out and "vs hold" in out and "WETH/USDC" in out
    assert "decision: REBALANCE: outside band: bucket stables" in out
    assert "plan:" not in out
