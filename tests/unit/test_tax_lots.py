"""Cost-basis lots: hand-worked FIFO, LIFO, HIFO and specific sales, and the ledger's invariants."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.book import Moment
from bot.core.tax_lots import METHODS, Ledger, LedgerShort, by_ids, dispose, term_of

WETH = "0x" + "11" * 20
DAY = 86_400
E18 = 10**18


def day(n: int) -> Moment:
    return Moment(n, 1_700_000_000 + n * DAY)


def three_lots() -> Ledger:
    ledger = Ledger()
    for n, (cost, at) in enumerate([(1000, 0), (3000, 10), (2000, 20)]):
        ledger = ledger.acquire(WETH, E18, Fraction(cost), day(at), f"deposit {n}", "WETH")
    return ledger


def sell(method: str, on: int, chooser=None) -> list[tuple[str, int, Fraction, Fraction, str]]:
    ledger, pieces = three_lots().take(WETH, 3 * E18 // 2, method, chooser)  # type: ignore[arg-type]
    rows = dispose(pieces, Fraction(3750), day(on), 365, "sale")
    assert ledger.held(WETH) == 3 * E18 // 2
    return [(d.lot_id, d.amount, d.basis, d.gain, d.term) for d in rows]


def test_fifo_sells_the_oldest_lots_first() -> None:
    assert sell("fifo", 400) == [
        ("WETH#1", E18, Fraction(1000), Fraction(1500), "long"),
        ("WETH#2", E18 // 2, Fraction(1500), Fraction(-250), "long"),
    ]


def test_lifo_sells_the_newest_lots_first() -> None:
    assert sell("lifo", 400) == [
        ("WETH#3", E18, Fraction(2000), Fraction(500), "long"),
        ("WETH#2", E18 // 2, Fraction(1500), Fraction(-250), "long"),
    ]


def test_hifo_sells_the_dearest_lots_first() -> None:
    assert sell("hifo", 400) == [
        ("WETH#2", E18, Fraction(3000), Fraction(-500), "long"),
        ("WETH#3", E18 // 2, Fraction(1000), Fraction(250), "long"),
    ]


def test_specific_sells_the_named_lots() -> None:
    assert sell("specific", 400, by_ids(["WETH#3", "WETH#1"])) == [
        ("WETH#3", E18, Fraction(2000), Fraction(500), "long"),
        ("WETH#1", E18 // 2, Fraction(500), Fraction(750), "long"),
    ]


def test_the_term_is_long_only_after_more_than_the_long_term_days() -> None:
    assert [r[4] for r in sell("fifo", 370)] == ["long", "short"]  # held 370 and 360 days
    assert term_of(day(0), day(365), 365) == "short"
    assert term_of(day(0), Moment(366, day(365).timestamp + 1), 365) == "long"


def test_a_sale_past_the_open_lots_is_refused_and_changes_nothing() -> None:
    ledger = three_lots()
    with pytest.raises(
        LedgerShort, match="3000000000000000001 base units taken, the open lots hold 3000000000000000000"
    ):
        ledger.take(WETH, 3 * E18 + 1, "fifo")
    assert ledger.held(WETH) == 3 * E18 and ledger.basis() == 6000
    with pytest.raises(LedgerShort, match="WETH#9"):
        ledger.take(WETH, 1, "specific", by_ids(["WETH#9"]))


actions = st.lists(
    st.tuples(st.booleans(), st.integers(1, 10**20), st.fractions(min_value=0, max_value=10**6)),
    min_size=1,
    max_size=30,
)


@given(actions, st.sampled_from(METHODS[:3]))
def test_lots_never_go_negative_and_basis_is_conserved(steps, method) -> None:
    ledger = Ledger()
    acquired_amount, acquired_basis = 0, Fraction(0)
    taken_amount, taken_basis = 0, Fraction(0)
    for i, (buy, amount, cost) in enumerate(steps):
        if buy:
            ledger = ledger.acquire(WETH, amount, cost, day(i), "buy", "WETH")
            acquired_amount, acquired_basis = acquired_amount + amount, acquired_basis + cost
            continue
        amount = min(amount, ledger.held(WETH))
        if amount == 0:
            continue
        ledger, pieces = ledger.take(WETH, amount, method)
        rows = dispose(pieces, cost, day(i), 365, "sale")
        assert sum(p.amount for p in pieces) == amount
        assert sum(r.proceeds for r in rows) == cost
        assert all(r.gain == r.proceeds - r.basis for r in rows)
        taken_amount += amount
        taken_basis += sum(p.cost for p in pieces)
    assert all(lot.amount > 0 and lot.cost >= 0 for lot in ledger.open_lots())
    assert ledger.held(WETH) + taken_amount == acquired_amount
    assert ledger.basis() + taken_basis == acquired_basis


@given(actions)
def test_the_method_changes_which_lots_go_never_the_totals(steps) -> None:
    results = []
    for method in METHODS[:3]:
        ledger, sold = Ledger(), 0
        for i, (buy, amount, cost) in enumerate(steps):
            if buy:
                ledger = ledger.acquire(WETH, amount, cost, day(i), "buy", "WETH")
            elif (amount := min(amount, ledger.held(WETH))) > 0:
                ledger, _ = ledger.take(WETH, amount, method)  # type: ignore[arg-type]
                sold += amount
        results.append((ledger.held(WETH), sold))
    assert results[0] == results[1] == results[2]
