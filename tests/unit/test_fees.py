"""EIP-1559 fees from eth_feeHistory answers (the shapes geth and anvil give)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import RpcError
from bot.core.fees import Fees, Wait, bumped, capped, fees_from_history, replacement_wait

GWEI = 10**9


def test_tip_is_the_median_reward_and_the_cap_doubles_the_next_base_fee() -> None:
    history = {
        "baseFeePerGas": [hex(10 * GWEI), hex(11 * GWEI), hex(12 * GWEI)],
        "reward": [[hex(1 * GWEI)], [hex(3 * GWEI)], [hex(2 * GWEI)]],
    }
    fees = fees_from_history(history, min_tip=0)
    assert fees.next_base_fee == 12 * GWEI
    assert fees.tip == 2 * GWEI
    assert fees.max_fee == 2 * 12 * GWEI + 2 * GWEI


def test_empty_blocks_and_the_floor() -> None:
    # anvil: a block without transactions reports reward 0
    history = {"baseFeePerGas": ["0x3b9aca00", "0x342a1c58"], "reward": [["0x0"]]}
    fees = fees_from_history(history, min_tip=10**7, headroom=3)
    assert fees.tip == 10**7
    assert fees.max_fee == 3 * 0x342A1C58 + 10**7
    assert fees_from_history({"baseFeePerGas": ["0x7"], "reward": []}, min_tip=1).tip == 1


@pytest.mark.parametrize(
    "history",
    [{}, {"baseFeePerGas": []}, {"baseFeePerGas": ["12"]}, {"baseFeePerGas": ["0x1"], "reward": [["zz"]]}],
)
def test_malformed_answers_are_rpc_errors(history: dict[str, object]) -> None:
    with pytest.raises(RpcError, match="eth_feeHistory"):
        fees_from_history(history, min_tip=0)


def test_the_books_maximum_lowers_the_cap_or_refuses() -> None:
    fees = fees_from_history({"baseFeePerGas": [hex(10 * GWEI)], "reward": [[hex(GWEI)]]}, min_tip=0)
    assert fees.max_fee == 21 * GWEI
    assert capped(fees, None) == fees
    assert capped(fees, 30 * GWEI) == fees  # above the cap already
    lowered = capped(fees, 15 * GWEI)
    assert lowered is not None and (lowered.max_fee, lowered.tip) == (15 * GWEI, GWEI)
    assert capped(fees, 11 * GWEI) is not None  # base + tip exactly: still includable
    assert capped(fees, 11 * GWEI - 1) is None


def test_a_replacement_raises_both_fees_by_the_bump_rounded_up() -> None:
    previous = Fees(max_fee=2 * GWEI + 7, tip=10**7 + 1, next_base_fee=GWEI)
    quiet = Fees(max_fee=GWEI, tip=1, next_base_fee=GWEI // 2)
    new = bumped(previous, quiet)
    assert new is not None
    # 12.5% of an odd number is not whole: the result is rounded up, so it is never below the rule
    assert new.max_fee == -(-(2 * GWEI + 7) * 9 // 8) and new.max_fee * 8 >= previous.max_fee * 9
    assert new.tip == -(-(10**7 + 1) * 9 // 8) and new.tip * 8 >= previous.tip * 9
    # geth's own rule (+10% on both) holds
    assert new.max_fee * 10 >= previous.max_fee * 11 and new.tip * 10 >= previous.tip * 11
    assert new.next_base_fee == quiet.next_base_fee


@given(
    max_fee=st.integers(1, 10**13),
    tip=st.integers(0, 10**11),
    market_fee=st.integers(1, 10**13),
    market_tip=st.integers(0, 10**11),
    bump=st.integers(1000, 10_000),
)
def test_a_replacement_always_satisfies_the_bump_and_the_market(
    max_fee: int, tip: int, market_fee: int, market_tip: int, bump: int
) -> None:
    previous = Fees(max(max_fee, tip), tip, 0)
    market = Fees(max(market_fee, market_tip), market_tip, 0)
    new = bumped(previous, market, bump)
    assert new is not None
    assert new.tip * 10_000 >= previous.tip * (10_000 + bump) and new.tip > previous.tip
    assert new.max_fee * 10_000 >= previous.max_fee * (10_000 + bump) and new.max_fee > previous.max_fee
    assert new.tip >= market.tip and new.max_fee >= market.max_fee and new.max_fee >= new.tip


def test_a_replacement_is_held_to_the_cap_or_refused_above_it() -> None:
    previous = Fees(max_fee=10 * GWEI, tip=GWEI, next_base_fee=4 * GWEI)
    hot = Fees(max_fee=30 * GWEI, tip=GWEI, next_base_fee=14 * GWEI)
    held = bumped(previous, hot, max_fee=12 * GWEI)
    assert held == Fees(max_fee=12 * GWEI, tip=GWEI + GWEI // 8, next_base_fee=14 * GWEI)
    assert bumped(previous, hot, max_fee=11 * GWEI) is None  # 10 gwei + 12.5% does not fit under 11


def test_a_pending_transaction_is_replaced_after_n_blocks_before_its_deadline_up_to_the_count() -> None:
    def wait(waited: int, made: int = 0, deadline: int = 1_000, now: int = 900) -> Wait | None:
        return replacement_wait(waited, made, deadline, now, after_blocks=3, max_replacements=2)

    assert wait(2) == Wait("it has waited 2 of 3 blocks")
    assert wait(3) is None and wait(7, made=1) is None
    assert wait(3, now=1_000) == Wait("it is past its deadline: a replacement could only revert", final=True)
    assert wait(3, made=2) == Wait("2 replacements made; it is left to be mined or dropped", final=True)
    # not yet due counts before the rest: nothing to warn about while a transaction is young
    assert wait(0, made=2, now=2_000) == Wait("it has waited 0 of 3 blocks")
