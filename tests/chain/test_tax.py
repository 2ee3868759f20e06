"""Taxes end to end on the world: the ledger opened from the vault's holdings, an owner's deposit,
three rebalances at different prices, the year's report against an independent computation from
the journal's raw records, lots that reconcile with the chain, the budget, and bad `[tax]`."""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sqlite3
from collections import deque
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from anvil.price_move import move_price
from anvil.world import ensure_world
from bot.cli.main import main
from bot.core.book import Moment
from bot.core.tax_ledger import year_of
from bot.core.units import amount_text
from bot.tx.journal import Journal, default_path
from tests.chain.books import vault_holdings, write_book
from tests.chain.conftest import World
from tests.chain.keeper_harness import drive, keeper_book

YEAR_S = 365 * 86_400


def _keys() -> list[str]:
    files = ensure_world()
    return ["--keystore", str(files.keeper_keystore), "--password-file", str(files.keeper_password)]


def _book(tmp_path: Path, world: World, **tax: Any) -> Path:
    world.node.rpc("evm_mine")
    head = world.w3.eth.block_number

    def change(raw: dict[str, Any]) -> None:
        raw["tax"] = {"method": "fifo", "short_rate": 0.3, "long_rate": 0.15, "start_block": head, **tax}

    return write_book(tmp_path, change)


def _rebalance(world: World, book: Path, capsys: pytest.CaptureFixture[str]) -> str:
    # the price moves here are sudden: the TWAP guard would wait for the window to follow them
    command = ["rebalance", "--config", str(book), "--rpc", world.node.url, *_keys(), "--yes"]
    assert main([*command, "--override", "twap_deviation"]) == 0
    out = capsys.readouterr().out
    assert "decision: REBALANCE" in out and "realized equals predicted" in out, out
    return out


def _exact(text: str) -> Fraction:
    return Fraction(Decimal(text))


def _outcomes(journal: Path) -> list[tuple[str, str]]:
    """Each executed intent's plan and realized record, as journaled (JSON text)."""
    with contextlib.closing(sqlite3.connect(journal)) as db:
        query = "SELECT i.plan, o.realized FROM intents i JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
        return db.execute(query).fetchall()


def _fifo_from_journal(journal: Path) -> dict[str, Fraction]:
    """The year's totals by FIFO with LP mints and burns as trades, written from the journal's raw
    rows: deposits priced as journaled (or at the owner's basis), each op of each bundle selling
    what it spent for the value of what it received at the intent's prices."""
    with contextlib.closing(sqlite3.connect(journal)) as db:
        return _fifo(db)


def _fifo(db: sqlite3.Connection) -> dict[str, Fraction]:
    intents = db.execute(
        "SELECT i.plan, o.realized, o.block FROM intents i JOIN outcomes o ON o.intent_id = i.id "
        "WHERE o.success = 1 AND i.fork = 0 ORDER BY o.block"
    ).fetchall()
    decimals = {a: int(i["decimals"]) for a, i in json.loads(intents[0][0])["assets"].items()}
    events: list[tuple[int, int, Any]] = []
    for tx, kind, asset, amount, block, ts, price, basis in db.execute(
        "SELECT tx_hash, kind, asset, amount, block, timestamp, price, basis FROM transfers"
    ):
        assert kind == "deposit", tx
        cost = _exact(basis) if basis else int(amount) * _exact(price) / 10 ** decimals[asset]
        events.append((block, 0, ("deposit", asset, int(amount), cost, ts)))
    for plan_text, realized_text, block in intents:
        events.append((block, 1, ("bundle", json.loads(plan_text), json.loads(realized_text))))
    lots: dict[str, deque[list[Any]]] = {}
    totals = {"proceeds": Fraction(0), "basis": Fraction(0), "short": Fraction(0), "long": Fraction(0)}
    for _, _, event in sorted(events, key=lambda e: (e[0], e[1])):
        if event[0] == "deposit":
            _, asset, amount, cost, ts = event
            lots.setdefault(asset, deque()).append([amount, cost, ts])
            continue
        _, plan, realized = event
        ts = plan["timestamp"]

        def value(asset: str, amount: int, quotes: dict[str, Any] = plan["quotes"]) -> Fraction:
            return amount * _exact(quotes[asset]["price"]) / 10 ** decimals[asset]

        for op in realized["ops"]:
            moved = op["realized"]
            spent = {a: int(n) for a, n in moved["spent"].items()}
            received = {a: int(n) for a, n in moved["received"].items()}
            got = sum(value(a, n) for a, n in received.items())
            gave = sum(value(a, n) for a, n in spent.items())
            for asset, amount in spent.items():
                proceeds = got * value(asset, amount) / gave
                left = amount
                while left:
                    lot = lots[asset][0]
                    part = min(left, lot[0])
                    cost = lot[1] * part / lot[0]
                    share = proceeds * part / amount
                    term = "long" if ts - lot[2] > YEAR_S else "short"
                    totals["proceeds"] += share
                    totals["basis"] += cost
                    totals[term] += share - cost
                    lot[0] -= part
                    lot[1] -= cost
                    left -= part
                    if lot[0] == 0:
                        lots[asset].popleft()
            for asset, amount in received.items():
                lots.setdefault(asset, deque()).append([amount, value(asset, amount), ts])
    return totals


def test_three_rebalances_report_what_the_journal_says_and_lots_reconcile_with_the_chain(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = _book(tmp_path, world, short_rate=0, long_rate=0)  # no tax to gate on: every rebalance goes
    journal = next(tmp_path.glob("*.journal.sqlite"), tmp_path / "changed.journal.sqlite")
    first = _rebalance(world, book, capsys)
    assert "tax (fifo, LP as trade):" in first and "from WETH#1" in first
    assert re.search(
        r"tax: realized -?[0-9,.]+ short-term and 0\.00 long-term USDC of gains "
        r"in \d+ lot sale\(s\), as predicted",
        first,
    )
    deposit = world.owner_deposit("WETH", 15 * 10**18)
    move_price(world.node.url, world.book, "WETH", 25)
    _rebalance(world, book, capsys)
    world.owner_deposit("USDC", 40_000 * 10**6)
    move_price(world.node.url, world.book, "WETH", -30)
    _rebalance(world, book, capsys)

    # every outcome records the gains its plan predicted, lot by lot
    rows = _outcomes(journal)
    assert len(rows) == 3
    for plan_text, realized_text in rows:
        plan, realized = json.loads(plan_text), json.loads(realized_text)
        assert realized["tax"]["gains"] == plan["tax"]["gains"]
        sold, planned = realized["tax"]["disposals"], plan["tax"]["disposals"]
        assert [{**d, "event": ""} for d in sold] == [{**d, "event": ""} for d in planned]
        assert all(d["event"].startswith("bundle #") and realized["tx_hash"] in d["event"] for d in sold)

    year = year_of(Moment(0, world.w3.eth.get_block("latest")["timestamp"]))
    out = tmp_path / "report.json"
    assert main(["tax", "report", "--config", str(book), "--rpc", world.node.url, "--year", str(year),
                 "--format", "json", "--out", str(out)]) == 0  # fmt: skip
    report = json.loads(out.read_text())
    mine = _fifo_from_journal(journal)
    assert _exact(report["proceeds"]) == round(mine["proceeds"], 18)
    assert _exact(report["basis"]) == round(mine["basis"], 18)
    assert _exact(report["gains"]["short"]) == round(mine["short"], 18)
    assert _exact(report["gains"]["long"]) == round(mine["long"], 18) == 0
    assert mine["short"] != 0 and len(report["disposals"]) > 3
    # the 8949 rows are the same disposals, rounded to cents
    form = tmp_path / "8949.csv"
    assert main(["tax", "report", "--config", str(book), "--rpc", world.node.url, "--year", str(year),
                 "--format", "8949", "--out", str(form)]) == 0  # fmt: skip
    rows_8949 = list(csv.DictReader(form.read_text().splitlines()))
    assert len(rows_8949) == len(report["disposals"])
    assert abs(sum(Fraction(r["Gain or (loss)"]) for r in rows_8949) - mine["short"]) <= Fraction(
        len(rows_8949), 200
    )
    # the audit log: a record per rebalance; the last one ends where the vault is on chain
    audit = tmp_path / "audit.json"
    assert main(["tax", "report", "--config", str(book), "--rpc", world.node.url, "--year", str(year),
                 "--format", "audit", "--out", str(audit)]) == 0  # fmt: skip
    records = json.loads(audit.read_text())
    assert [r["tx_hash"] for r in records] == [json.loads(r)["tx_hash"] for _, r in rows]
    assets = json.loads(rows[0][0])["assets"]
    on_chain = {
        assets[a]["symbol"]: amount_text(n, assets[a]["decimals"])
        for a, n in vault_holdings(world).items()
        if n
    }
    assert {k: v for k, v in records[-1]["balances_after"].items() if v != "0"} == on_chain
    assert all(r["prices"]["WETH"]["source"].startswith("spot at block") for r in records)
    # Koinly: every deposit and every op's legs; the gas fee once per bundle
    koinly = tmp_path / "koinly.csv"
    assert main(["tax", "report", "--config", str(book), "--rpc", world.node.url, "--year", str(year),
                 "--format", "koinly", "--out", str(koinly)]) == 0  # fmt: skip
    trades = list(csv.DictReader(koinly.read_text().splitlines()))
    assert sum(bool(t["Fee Amount"]) for t in trades) == 3
    assert {t["TxHash"] for t in trades} >= {r["tx_hash"] for r in records}
    # another method moves which lots go, never the proceeds
    lifo = tmp_path / "lifo.json"
    assert main(["tax", "report", "--config", str(book), "--rpc", world.node.url, "--year", str(year),
                 "--format", "json", "--method", "lifo", "--out", str(lifo)]) == 0  # fmt: skip
    other = json.loads(lifo.read_text())
    assert other["settings"]["method"] == "lifo" and other["proceeds"] == report["proceeds"]
    assert other["basis"] != report["basis"]
    # the open lots hold exactly what the vault holds on chain
    capsys.readouterr()
    assert main(["tax", "lots", "--config", str(book), "--rpc", world.node.url, "--json"]) == 0
    lots = json.loads(capsys.readouterr().out)["lots"]
    held: dict[str, int] = {}
    for lot in lots:
        held[lot["asset"]] = held.get(lot["asset"], 0) + int(lot["amount"])
    assert held == {a: n for a, n in vault_holdings(world).items() if n}
    # the owner's basis for the deposit replaces its price at that block
    tx = deposit["transactionHash"].to_0x_hex()
    assert main(["tax", "basis", "--config", str(book), "--rpc", world.node.url, "--tx", tx, "WETH=30000",
                 "--acquired", "2020-01-02"]) == 0  # fmt: skip
    again = tmp_path / "again.json"
    assert main(["tax", "report", "--config", str(book), "--rpc", world.node.url, "--year", str(year),
                 "--format", "json", "--out", str(again)]) == 0  # fmt: skip
    owned = [d for d in json.loads(again.read_text())["disposals"] if d["acquired"]["block"] == 0]
    assert owned, "the deposit's WETH was sold by FIFO after the opening lots"
    for d in owned:
        assert d["term"] == "long" and _exact(d["basis"]) == round(
            Fraction(int(d["amount"]) * 2000, 10**18), 18
        )


def test_a_budget_holds_the_rebalance_to_part_of_the_way_and_the_chain_realizes_the_prediction(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = _book(tmp_path, world, short_budget=5000, short_rate=0, long_rate=0)
    move_price(world.node.url, world.book, "WETH", 40)  # the opening WETH lots are now at a gain
    out = _rebalance(world, book, capsys)
    assert "of the way to the targets" in out and "short_budget" in out, out
    ((plan_text, realized_text),) = _outcomes(next(tmp_path.glob("*.journal.sqlite")))
    plan, realized = json.loads(plan_text), json.loads(realized_text)
    assert realized["tax"]["gains"] == plan["tax"]["gains"]
    assert 4000 < _exact(realized["tax"]["gains"]["short"]) <= 5000  # as far as the budget allows
    assert 0 < _exact(plan["tax"]["share"]) < 1


@pytest.mark.parametrize(
    ("tax", "key"),
    [
        ({"method": "average"}, "tax.method"),
        ({"short_rate": 1.5}, "tax.short_rate"),
        ({"short_budget": -1}, "tax.short_budget"),
        ({"lp": "sometimes"}, "tax.lp"),
        ({"long_term_days": 0}, "tax.long_term_days"),
        ({"rate": 0.3}, "tax.rate"),
    ],
)
def test_bad_tax_values_are_one_line_naming_the_key(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], tax: dict[str, Any], key: str
) -> None:
    book = _book(tmp_path, world, **tax)
    assert main(["plan", "--config", str(book), "--rpc", world.node.url]) == 2
    err = capsys.readouterr().err
    assert key in err and len(err.strip().splitlines()) == 1, err


def test_the_keeper_plans_within_the_budget_and_its_settled_outcome_records_the_predicted_gains(
    world: World, tmp_path: Path
) -> None:
    world.node.rpc("evm_mine")
    head = world.w3.eth.block_number

    def taxed(raw: dict[str, Any]) -> None:
        raw["tax"] = {"start_block": head, "short_budget": 5000}
        raw["guards"] = {**raw.get("guards", {}), "max_twap_deviation": 0.9}  # the move below is sudden

    book = keeper_book(tmp_path, taxed)
    move_price(world.node.url, world.book, "WETH", 40)
    run = drive(world, book, lambda steps: sum(s.action == "hold" for s in steps) >= 2, mine_every_s=0.1)
    sent = [s for s in run.steps if s.action == "sent"]
    assert len(sent) == 1 and "of the way to the targets" in sent[0].reason, [s.reason for s in run.steps]
    ((plan_text, realized_text),) = _outcomes(next(tmp_path.glob("*.journal.sqlite")))
    plan, realized = json.loads(plan_text), json.loads(realized_text)
    assert realized["tax"]["gains"] == plan["tax"]["gains"]  # recorded by the keeper's settling
    assert 4000 < _exact(realized["tax"]["gains"]["short"]) <= 5000
    # the next heads hold: the year's budget is spent
    holds = [s.reason for s in run.steps if s.action == "hold"]
    assert holds and all("tax budget allows no part of the way" in r for r in holds), holds


def test_a_deposit_a_reorg_took_off_the_chain_leaves_the_ledger(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = _book(tmp_path, world)
    Journal.open(default_path(book)).close()  # the ledger's scans are kept in the book's journal
    lots_command = ["tax", "lots", "--config", str(book), "--rpc", world.node.url, "--json"]

    def lots() -> dict[str, int]:
        capsys.readouterr()
        assert main(lots_command) == 0
        held: dict[str, int] = {}
        for lot in json.loads(capsys.readouterr().out)["lots"]:
            held[lot["asset"]] = held.get(lot["asset"], 0) + int(lot["amount"])
        return held

    weth, usdc = world.token("WETH").address, world.token("USDC").address
    before = lots()
    fork_point = world.snapshot()
    world.owner_deposit("WETH", 7 * 10**18)
    assert lots()[weth] == before[weth] + 7 * 10**18
    world.revert(fork_point)  # the deposit's blocks leave the chain; another history replaces them
    world.owner_deposit("USDC", 1_234 * 10**6)
    world.node.rpc("evm_mine")
    after = lots()
    assert after[weth] == before[weth] and after[usdc] == before[usdc] + 1_234 * 10**6
    assert after == {a: n for a, n in vault_holdings(world).items() if n}
