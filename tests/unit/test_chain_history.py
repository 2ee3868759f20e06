"""A recorded history decoded: each Swap, Mint and Burn with the Sync the pair emitted before it,
bare syncs on their own, LP burns from their Transfer to zero, the vault's own calls marked."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.backtest import PoolEvent
from bot.core.chain_history import BURN, MINT, SWAP, SYNC, TRANSFER, Header, decode, ticks
from bot.core.errors import BadInput
from tests.unit.test_backtest import SLEEVES, VALUES
from tests.unit.views import PAIRS, VAULT, make_book, make_snapshot

BOOK = make_book(SLEEVES, policy={"band": 0.05})
START = make_snapshot(BOOK, VALUES, weth_price=3000)
PAIR = PAIRS["WETH/USDC"]
OTHER = "0x" + "77" * 20


def topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def word(*values: int) -> str:
    return "0x" + "".join(f"{v:064x}" for v in values)


def entry(
    block: int, index: int, tx: str, kind: str, topics: list[str], data: str, pair: str = PAIR
) -> dict[str, Any]:
    return {"address": pair.lower(), "blockNumber": hex(block), "logIndex": hex(index), "transactionHash": tx,
            "topics": [kind, *topics], "data": data}  # fmt: skip


def test_calls_are_decoded_with_the_reserves_they_found_and_left() -> None:
    pair = next(p for p in START.pairs if p.address == PAIR)
    r0, r1 = pair.reserve0, pair.reserve1
    logs = [
        # block 1001: someone swaps 10 of token0 in
        entry(1001, 0, "0xa", SYNC, [], word(r0 + 10, r1 - 9)),
        entry(1001, 1, "0xa", SWAP, [topic(OTHER), topic(OTHER)], word(10, 0, 0, 9)),
        # the vault mints (the LP Transfer from zero is not a burn)
        entry(1001, 2, "0xb", TRANSFER, ["0x" + "00" * 32, topic(VAULT)], word(5)),
        entry(1001, 3, "0xb", SYNC, [], word(r0 + 20, r1 + 1)),
        entry(1001, 4, "0xb", MINT, [topic(VAULT)], word(10, 10)),
        # block 1002: a donation synced, then someone burns 7 LP
        entry(1002, 0, "0xc", SYNC, [], word(r0 + 25, r1 + 1)),
        entry(1002, 1, "0xd", TRANSFER, [topic(PAIR), "0x" + "00" * 32], word(7)),
        entry(1002, 2, "0xd", SYNC, [], word(r0 + 24, r1)),
        entry(1002, 3, "0xd", BURN, [topic(OTHER), topic(OTHER)], word(1, 1)),
        # a log of a contract outside the book is ignored
        entry(1002, 4, "0xe", SYNC, [], word(1, 1), pair=OTHER),
    ]
    events = decode(reversed(logs), START, VAULT)  # any order in: block and log order out
    assert events == {
        1001: [
            PoolEvent(PAIR, "swap", False, (r0, r1), (r0 + 10, r1 - 9), 10, 0, 0, 9),
            PoolEvent(PAIR, "mint", True, (r0 + 10, r1 - 9), (r0 + 20, r1 + 1), 10, 10),
        ],
        1002: [
            PoolEvent(PAIR, "sync", False, (r0 + 20, r1 + 1), (r0 + 25, r1 + 1)),
            PoolEvent(
                PAIR,
                "burn",
                False,
                (r0 + 25, r1 + 1),
                (r0 + 24, r1),
                amount0_out=1,
                amount1_out=1,
                liquidity=7,
            ),
        ],
    }
    headers = [Header(1000, 5, 1), Header(1001, 17, 2), Header(1002, 29, 3)]
    tokens, replay = ticks(START, headers, events, BOOK.tokens["USDC"].address)
    assert [t.block for t in replay] == [1000, 1001, 1002] and replay[0].events == ()
    assert replay[1].events == tuple(events[1001]) and replay[2].base_fee_wei == 3
    assert dict(zip(tokens, replay[2].prices, strict=True))[BOOK.tokens["USDC"].address] == 1.0
    # the arbitrageur aims each pool at its recorded price at the block's end: token1 per token0
    targets = {address: (num, den) for address, num, den in replay[2].pool_prices or ()}
    assert targets[PAIR] == (r1, r0 + 24)


@pytest.mark.parametrize(
    ("logs", "says"),
    [
        ([entry(1001, 1, "0xa", SWAP, [topic(OTHER), topic(OTHER)], word(10, 0, 0, 9))], "without the Sync"),
        ([entry(1001, 0, "0xa", SYNC, [], word(1))], "a Sync with 1 words"),
        (
            [
                entry(1001, 0, "0xa", SYNC, [], word(1, 2)),
                entry(1001, 1, "0xa", SWAP, [topic(OTHER)], word(1)),
            ],
            "a Swap with 1 words",
        ),
    ],
)
def test_logs_a_pair_would_not_emit_are_named(logs: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(BadInput, match=says):
        decode(logs, START, VAULT)
