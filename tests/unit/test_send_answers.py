"""The clients' wordings of an eth_sendRawTransaction refusal, read by `send_refusal`."""

from __future__ import annotations

import pytest

from bot.tx.transactions import send_refusal


@pytest.mark.parametrize(
    ("message", "meaning"),
    [
        ("already known", "known"),  # geth, infura
        ("transaction already imported", "known"),  # anvil, reth
        ("Transaction with the same hash was already imported.", "known"),  # openethereum
        ("known transaction: 0x1234", "known"),  # older geth
        ("INTERNAL_ERROR: existing tx with same hash", "known"),  # erigon
        ("AlreadyKnown", "known"),  # nethermind
        ("nonce too low", "nonce used"),  # geth, anvil, reth
        ("nonce too low: next nonce 8, tx nonce 7", "nonce used"),  # geth, with the numbers
        ("Transaction nonce is too low. Try incrementing the nonce.", "nonce used"),  # openethereum
        ("OldNonce", "nonce used"),  # nethermind
        ("replacement transaction underpriced", "refused"),
        ("unknown transaction type", "refused"),  # not "known transaction"
        ("transaction type not supported", "refused"),
        ("max fee per gas less than block base fee", "refused"),
        ("insufficient funds for gas * price + value", "refused"),
        ("Transaction gas price supplied is too low.", "refused"),  # openethereum: underpriced
    ],
)
def test_what_a_refusal_says(message: str, meaning: str) -> None:
    assert send_refusal(message) == meaning
