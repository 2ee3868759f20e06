"""The ledger's rules on hand-worked events: deposits, swaps, LP as trade or carried basis,
withdrawals; the transfers found in logs; years; the accountant's files."""

from __future__ import annotations

import csv
import datetime
import io
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.book import Moment, Tax
from bot.core.errors import RpcError
from bot.core.realized import TRANSFER
from bot.core.tax_ledger import (
    AssetInfo,
    Bundle,
    OpFlow,
    Quote,
    TaxRules,
    Transfer,
    gains,
    ordered_events,
    year_of,
)
from bot.core.tax_lots import LedgerShort
from bot.core.transfer_logs import EXECUTED, topic_of, vault_transfers
from bot.report.tax_report import cents, form_8949, koinly

WETH, USDC, LP, VAULT, OWNER = ("0x" + c * 40 for c in "abcde")
ASSETS = {WETH: AssetInfo("WETH", 18), USDC: AssetInfo("USDC", 6), LP: AssetInfo("WETH/USDC LP", 18)}
E18, E6 = 10**18, 10**6
T0 = 1_700_000_000


def at(day: int) -> Moment:
    return Moment(100 + day, T0 + day * 86_400)


def rules(**tax: object) -> TaxRules:
    return TaxRules(Tax.model_validate(tax), ASSETS, USDC)


def deposit(asset: str, amount: int, price: int, day: int = 0, basis: Fraction | None = None) -> Transfer:
    return Transfer(
        "deposit", asset, amount, at(day), f"0xdep{asset[2]}{day}", 0, Quote(Fraction(price), "test"), basis
    )


def bundle(day: int, price: int, *ops: OpFlow, lp_price: Fraction = Fraction(0)) -> Bundle:
    quotes = {
        WETH: Quote(Fraction(price), "spot"),
        USDC: Quote(Fraction(1), "numeraire"),
        LP: Quote(lp_price, "lp"),
    }
    return Bundle(day, f"0xb{day}", at(day).block + 1, at(day), ops, quotes)


START = [deposit(WETH, 10 * E18, 1000), deposit(USDC, 30_000 * E6, 1)]
# 1 WETH = 1 LP at 3,000 USDC each: a mint of 1 WETH + 3,000 USDC makes 2 LP worth 6,000
MINT = OpFlow("mint", {WETH: E18, USDC: 3000 * E6}, {LP: 2 * E18})
BURN = OpFlow("burn", {LP: 2 * E18}, {WETH: E18, USDC: 3000 * E6})


def test_a_swap_sells_at_the_value_received_and_the_purchase_costs_it() -> None:
    swap = OpFlow("swap", {WETH: 2 * E18}, {USDC: 5_990 * E6})  # 2 WETH at 3,000 less fees
    replay = rules().replay([*START, bundle(10, 3000, swap)])
    (sale,) = replay.disposals
    assert (sale.lot_id, sale.proceeds, sale.basis, sale.gain, sale.term) == (
        "WETH#1",
        Fraction(5990),
        Fraction(2000),
        Fraction(3990),
        "short",
    )
    assert replay.ledger.held(WETH) == 8 * E18 and replay.ledger.basis(WETH) == 8000
    assert [lot.cost for lot in replay.ledger.lots[USDC]] == [30_000, 5_990]


def test_lp_as_trade_disposes_at_the_mint_and_the_burn() -> None:
    replay = rules(lp="trade").replay([*START, bundle(10, 3000, MINT, lp_price=Fraction(3000)),
                                       bundle(20, 3000, BURN, lp_price=Fraction(3000))])  # fmt: skip
    weth_sales = [d for d in replay.disposals if d.asset == WETH]
    assert [(d.proceeds, d.basis) for d in weth_sales] == [(3000, 1000)]
    (lp_sale,) = [d for d in replay.disposals if d.asset == LP]
    assert (lp_sale.proceeds, lp_sale.basis, lp_sale.gain) == (6000, 6000, 0)
    assert gains(replay.disposals).total == 2000


def test_lp_non_taxable_carries_basis_and_holding_start_through_and_back() -> None:
    replay = rules(lp="non-taxable").replay(
        [
            *START,
            bundle(10, 3000, MINT, lp_price=Fraction(3000)),
            bundle(400, 3000, BURN, lp_price=Fraction(3000)),
        ]
    )
    assert replay.disposals == []
    assert replay.ledger.basis() == 10 * 1000 + 30_000  # nothing realized, nothing lost
    assert replay.ledger.held(WETH) == 10 * E18 and replay.ledger.held(USDC) == 30_000 * E6
    # the WETH that went through the LP is still held since day 0: long term if sold now
    swap = OpFlow("swap", {WETH: 10 * E18}, {USDC: 30_000 * E6})
    sold = rules(lp="non-taxable", method="lifo").replay([*replay_events(), bundle(401, 3000, swap)])
    assert {d.term for d in sold.disposals} == {"long"}
    assert {d.acquired for d in sold.disposals} == {at(0)}


def replay_events() -> list[Transfer | Bundle]:
    return [
        *START,
        bundle(10, 3000, MINT, lp_price=Fraction(3000)),
        bundle(400, 3000, BURN, lp_price=Fraction(3000)),
    ]


@given(st.integers(1, 10**6), st.integers(1, 10**4), st.integers(1, 5000))
def test_carried_basis_is_conserved_exactly(weth_units: int, usdc: int, price: int) -> None:
    mint = OpFlow("mint", {WETH: weth_units, USDC: usdc}, {LP: weth_units + usdc})
    events = [*START, bundle(1, price, mint, lp_price=Fraction(price))]
    replay = rules(lp="non-taxable").replay(events)
    assert replay.disposals == [] and replay.ledger.basis() == 40_000
    assert replay.ledger.held(LP) == weth_units + usdc


def test_a_withdrawal_takes_lots_out_without_a_sale_and_the_owners_basis_counts() -> None:
    out = Transfer("withdrawal", WETH, 4 * E18, at(5), "0xw", 0, Quote(Fraction(2000), "t"))
    given_basis = deposit(WETH, E18, 3000, day=1, basis=Fraction(500))
    replay = rules(method="hifo").replay([*START, given_basis, out])
    assert replay.disposals == []
    (withdrawn,) = [a.withdrawn for a in replay.applied if a.withdrawn]
    assert [(p.lot_id, p.amount, p.cost) for p in withdrawn] == [
        ("WETH#1", 4 * E18, 4000)
    ]  # 1,000 > 500 a WETH
    assert replay.ledger.basis(WETH) == 6000 + 500


def test_selling_more_than_the_lots_hold_names_the_asset() -> None:
    swap = OpFlow("swap", {WETH: 11 * E18}, {USDC: 1})
    with pytest.raises(LedgerShort, match=f"{WETH}: 11000000000000000000 base units taken"):
        rules().replay([*START, bundle(1, 3000, swap)])


def test_a_bundle_moving_an_unpriced_asset_is_refused_by_name() -> None:
    other = "0x" + "f" * 40
    swap = OpFlow("swap", {WETH: E18}, {other: 1})
    with pytest.raises(LedgerShort, match=f"bundle #1 \\(0xb1\\): no price for {other} at block 101"):
        rules().replay([*START, bundle(1, 3000, swap)])


def test_events_order_deposits_bundles_then_withdrawals_in_a_block() -> None:
    b = bundle(0, 3000, OpFlow("swap", {WETH: 1}, {USDC: 1}))
    w = Transfer("withdrawal", WETH, 1, Moment(b.block, T0), "0xw", 0, Quote(Fraction(1), "t"))
    d = Transfer("deposit", WETH, 1, Moment(b.block, T0), "0xd", 5, Quote(Fraction(1), "t"))
    assert ordered_events([w, d], [b]) == [d, b, w]


@pytest.mark.parametrize("when", ["1970-01-01T00:00:00", "2023-12-31T23:59:59", "2024-02-29T12:00:00",
                                  "2024-12-31T23:59:59", "2100-03-01T00:00:00"])  # fmt: skip
def test_year_of_is_the_utc_calendar_year(when: str) -> None:
    moment = datetime.datetime.fromisoformat(when).replace(tzinfo=datetime.UTC)
    assert year_of(Moment(0, int(moment.timestamp()))) == moment.year


def test_transfers_in_and_out_of_the_vault_that_no_bundle_made() -> None:
    def log(token: str, sender: str, receiver: str, amount: int, tx: str, index: int) -> dict[str, object]:
        topics = [TRANSFER, topic_of(sender), topic_of(receiver)]
        return {"address": token, "topics": topics, "data": hex(amount), "blockNumber": hex(7),
                "transactionHash": tx, "logIndex": hex(index)}  # fmt: skip

    executed = {"address": VAULT, "topics": [EXECUTED, "0x" + "00" * 32], "data": "0x", "blockNumber": hex(7),
                "transactionHash": "0xbundle", "logIndex": hex(9)}  # fmt: skip
    logs = [
        log(WETH, OWNER, VAULT, 5, "0xdeposit", 1),
        log(USDC, VAULT, OWNER, 3, "0xwithdraw", 2),
        log(USDC, VAULT, LP, 100, "0xbundle", 3),  # a bundle's own movement: the journal has it
        executed,
        log(WETH, OWNER, VAULT, 5, "0xdeposit", 1),  # the same log from the other query
    ]
    found = vault_transfers(logs, VAULT)
    assert [(t.kind, t.amount, t.tx_hash) for t in found] == [
        ("deposit", 5, "0xdeposit"),
        ("withdrawal", 3, "0xwithdraw"),
    ]


@pytest.mark.parametrize(
    "log",
    [
        {},
        {"topics": [TRANSFER, "0x1", "0x2"]},
        {"address": WETH, "topics": [TRANSFER, "0x1", "0x2"], "data": "zz", "blockNumber": "0x1",
         "transactionHash": "0xa", "logIndex": "0x0"},
        None,
    ],
)  # fmt: skip
def test_a_node_answering_something_else_than_logs_is_an_rpc_error(log: object) -> None:
    with pytest.raises(RpcError, match="eth_getLogs answered a log that is not one"):
        vault_transfers([log], VAULT)  # type: ignore[list-item]


def test_cents_round_half_to_even() -> None:
    assert [cents(Fraction(x)) for x in ("0.125", "0.135", "-0.125", "-0.005", "1234.5")] == [
        "0.12", "0.14", "-0.12", "0.00", "1234.50"]  # fmt: skip


def test_form_8949_and_koinly_rows() -> None:
    r = rules()
    swap = OpFlow("swap", {WETH: 2 * E18}, {USDC: 5_990 * E6})
    replay = r.replay([*START, bundle(400, 3000, swap)])
    rows = list(csv.DictReader(io.StringIO(form_8949(replay.disposals, r))))
    assert rows == [{
        "Description of property": "2 WETH", "Date acquired": "11/14/2023",
        "Date sold or disposed of": "12/18/2024",
        "Proceeds": "5990.00", "Cost or other basis": "2000.00", "Gain or (loss)": "3990.00", "Term": "Long",
        "Lot": "WETH#1", "Event": "bundle #400 (0xb400)",
    }]  # fmt: skip
    trades = list(csv.DictReader(io.StringIO(koinly(replay.applied, r, "USDC", {}))))
    legs = [
        (t["Sent Amount"], t["Sent Currency"], t["Received Amount"], t["Received Currency"]) for t in trades
    ]
    assert legs == [
        ("", "", "10", "WETH"), ("", "", "30000", "USDC"), ("2", "WETH", "5990", "USDC")]  # fmt: skip
    assert trades[2]["Net Worth Amount"] == "5990.00" and trades[2]["TxHash"] == "0xb400"
