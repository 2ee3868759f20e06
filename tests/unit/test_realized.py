"""A receipt's logs split into ops by their pairs' closing events (synthetic logs in JSON-RPC form)."""

from __future__ import annotations

import pytest

from bot.core.errors import RpcError
from bot.core.executor_ops import Burn, Swap, Zap
from bot.core.realized import (
    PAIR_BURN,
    PAIR_MINT,
    PAIR_SWAP,
    PAIR_SYNC,
    TRANSFER,
    op_movements,
    synced_reserves,
)

VAULT = "0x" + "aa" * 20
PAIR_A = "0x" + "0a" * 20
PAIR_B = "0x" + "0b" * 20
TOKEN_X = "0x" + "c1" * 20
TOKEN_Y = "0x" + "c2" * 20
ZERO = "0x" + "00" * 20


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:]


def transfer(token: str, src: str, dst: str, amount: int) -> dict[str, object]:
    return {"address": token, "topics": [TRANSFER, _topic(src), _topic(dst)], "data": hex(amount)}


def event(pair: str, topic: str) -> dict[str, object]:
    return {"address": pair, "topics": [topic, _topic(VAULT)], "data": "0x"}


def test_movements_per_op_including_lp_and_a_zap_with_two_closing_events() -> None:
    logs = [
        transfer(PAIR_A, VAULT, PAIR_A, 50),  # LP to the pair
        transfer(PAIR_A, ZERO, "0x" + "fe" * 20, 1),  # protocol fee mint: not the vault's
        transfer(PAIR_A, PAIR_A, ZERO, 50),
        transfer(TOKEN_X, PAIR_A, VAULT, 700),
        transfer(TOKEN_Y, PAIR_A, VAULT, 900),
        event(PAIR_A, PAIR_BURN),
        transfer(TOKEN_X, VAULT, PAIR_B, 300),
        transfer(TOKEN_Y, PAIR_B, VAULT, 280),
        event(PAIR_B, PAIR_SWAP),
        transfer(TOKEN_Y, VAULT, PAIR_B, 100),  # zap: swap half...
        transfer(TOKEN_X, PAIR_B, VAULT, 95),
        event(PAIR_B, PAIR_SWAP),
        transfer(TOKEN_X, VAULT, PAIR_B, 95),  # ...then mint
        transfer(TOKEN_Y, VAULT, PAIR_B, 100),
        transfer(PAIR_B, ZERO, VAULT, 42),
        event(PAIR_B, PAIR_MINT),
    ]
    ops = [Burn(PAIR_A, 50, 1, 1), Swap(PAIR_B, True, 300, 1), Zap(PAIR_B, False, 200, 1)]
    burn, swap, zap = op_movements(ops, logs, VAULT)
    lp_a, lp_b, x, y = (a.lower() for a in (PAIR_A, PAIR_B, TOKEN_X, TOKEN_Y))
    lower = lambda m: {k.lower(): v for k, v in m.items()}  # noqa: E731
    assert lower(burn.spent) == {lp_a: 50} and lower(burn.received) == {x: 700, y: 900}
    assert lower(swap.spent) == {x: 300} and lower(swap.received) == {y: 280}
    assert lower(zap.spent) == {y: 200, x: 95} and lower(zap.received) == {x: 95, lp_b: 42}


def test_logs_that_do_not_match_the_ops_are_refused() -> None:
    logs = [event(PAIR_B, PAIR_SWAP)]
    with pytest.raises(RpcError, match="does not belong to op 1"):
        op_movements([Swap(PAIR_A, True, 1, 1)], logs, VAULT)
    with pytest.raises(RpcError, match="1 of the bundle's 2 ops found"):
        op_movements([Swap(PAIR_B, True, 1, 1), Swap(PAIR_B, True, 1, 1)], logs, VAULT)


def test_the_reserves_after_the_bundle_are_each_pairs_last_sync() -> None:
    def sync(pair: str, r0: int, r1: int) -> dict[str, object]:
        return {"address": pair, "topics": [PAIR_SYNC], "data": "0x" + f"{r0:064x}{r1:064x}"}

    logs = [
        sync(PAIR_A, 1, 2),
        transfer(TOKEN_X, VAULT, PAIR_A, 5),
        sync(PAIR_B, 7, 8),
        sync(PAIR_A, 3, 2**111),
    ]
    got = {k.lower(): v for k, v in synced_reserves(logs).items()}
    assert got == {PAIR_A: (3, 2**111), PAIR_B: (7, 8)}
