"""LP sleeves' entries follow the journal's executed bundles (average cost). Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.core.entries import Entry, LpMove, follow, lp_moves, opening_lp

PAIR, T0, T1 = "0xPAIR", "0xT0", "0xT1"


def test_a_mint_adds_its_deposit_and_a_burn_takes_its_pro_rata_share() -> None:
    start = Entry(1_000, 3_000_000, 100)
    minted = follow(start, [LpMove(PAIR, 50, 500, 1_500_000)])
    assert minted == Entry(1_500, 4_500_000, 150)
    burned = follow(minted, [LpMove(PAIR, -30)])
    assert burned == Entry(1_200, 3_600_000, 120)
    assert follow(burned, [LpMove(PAIR, -500)]) == Entry(0, 0, 0)  # all of it (and more) burned


def test_realized_ops_become_lp_moves_of_the_books_pairs() -> None:
    ops = [
        {"purpose": "burn", "realized": {"spent": {PAIR: "40"}, "received": {T0: "4", T1: "12"}}},
        {"purpose": "swap", "realized": {"spent": {T0: "1"}, "received": {T1: "3"}}},
        {"purpose": "mint", "realized": {"spent": {T0: "7", T1: "21"}, "received": {PAIR: "70"}}},
        {"purpose": "mint elsewhere", "realized": {"spent": {T0: "1"}, "received": {"0xOTHER": "9"}}},
        {"purpose": "no receipt"},
    ]
    assert lp_moves(ops, {PAIR: (T0, T1)}) == [LpMove(PAIR, -40), LpMove(PAIR, 70, 7, 21)]


@given(
    lp_now=st.integers(1, 10**24),
    moves=st.lists(st.integers(-(10**20), 10**20).filter(bool), max_size=6),
)
def test_without_entry_lp_the_opening_lp_is_what_was_held_before_the_moves(
    lp_now: int, moves: list[int]
) -> None:
    journaled = [LpMove(PAIR, m, max(m, 0), max(m, 0)) for m in moves]
    assert opening_lp(lp_now, journaled) + sum(moves) == lp_now


@given(
    entry=st.tuples(st.integers(1, 10**30), st.integers(1, 10**30), st.integers(1, 10**24)),
    burn=st.integers(1, 10**24),
)
def test_a_burn_never_raises_the_entry_per_lp(entry: tuple[int, int, int], burn: int) -> None:
    a0, a1, lp = entry
    after = follow(Entry(a0, a1, lp), [LpMove(PAIR, -burn)])
    assert after.lp == max(0, lp - burn)
    # floor division: what is left is at most its pro-rata share, within one base unit
    assert after.amount0 * lp <= a0 * after.lp and a0 * after.lp - after.amount0 * lp < lp
    assert after.amount1 * lp <= a1 * after.lp and a1 * after.lp - after.amount1 * lp < lp
