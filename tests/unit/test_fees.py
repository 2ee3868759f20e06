"""EIP-1559 fees from eth_feeHistory answers (the shapes geth and anvil give)."""

from __future__ import annotations

import pytest

from bot.errors import RpcError
from bot.fees import capped, fees_from_history

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
