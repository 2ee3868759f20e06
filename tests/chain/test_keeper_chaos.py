"""Chaos: `ammkeeper run` killed at random points of its work, round after round (`make test-slow`).

Each round the owner deposits into the vault (USDC, then WETH, in turn, about 6% of the book),
which pushes the book out of its bands. A keeper process starts behind a proxy that counts its
requests (head polling aside) and, at a random one, SIGKILLs it while holding that request, then
forwards it or drops it, at random. A kill can land anywhere: reading, estimating, between the
journaled raw bytes and the send, with the send on the node but its answer lost, while settling
a receipt. Then a keeper runs undisturbed until it holds. After every round, the chain and the
journal must agree:

- every bundle the vault executed is one journaled intent, recorded executed and as predicted;
- each round's drift was rebalanced by exactly one bundle: nothing was planned again after a kill;
- no intent executed twice, none is left unresolved;
- the keeper's nonce is the number of its mined transactions: nothing was sent outside the journal.

    CHAOS_ROUNDS=12 CHAOS_SEED=1 make test-slow
"""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from tests.chain.books import journal_records
from tests.chain.conftest import World
from tests.chain.keeper_harness import drive, keeper_book, kill_while_held, miner

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "12"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))
POLLING = {"eth_blockNumber", "eth_getBlockByNumber"}
EXECUTED_TOPIC = "0x" + Web3.keccak(text="Executed(bytes32,uint256)").hex().removeprefix("0x")


def _drift(world: World, round_no: int) -> None:
    """The owner deposits USDC (odd rounds) or WETH (even rounds) into the vault: about 6% of the
    book's value, growing with the book, well over the 2-point bands."""
    growth = Fraction(106, 100) ** round_no
    symbol, amount = (
        ("USDC", int(40_000 * 10**6 * growth)) if round_no % 2 else ("WETH", int(15 * 10**18 * growth))
    )
    world.owner_deposit(symbol, amount)


def _executed_on_chain(world: World, since: int) -> list[str]:
    """The bundle ids of the vault's Executed events since block `since`, in chain order."""
    logs = world.w3.eth.get_logs(
        {"address": world.book.accounts["vault"], "fromBlock": since, "toBlock": "latest",
         "topics": [EXECUTED_TOPIC]}
    )  # fmt: skip
    return [log["topics"][1].to_0x_hex() for log in logs]


def _kill_at_a_random_request(world: World, book: Path, rng: random.Random) -> str:
    """Start a keeper behind the proxy; kill it at a random request; returns where it died."""
    target = rng.randint(1, 40)
    forward = rng.random() < 0.5
    seen: list[str] = []

    def at_target(request: dict[str, Any]) -> bool:
        if request["method"] in POLLING:
            return False
        seen.append(request["method"])
        return len(seen) == target

    # a keeper with nothing to do may never get there: it is killed all the same
    if not kill_while_held(world, book, at_target, forward, wait_s=30):
        return f"killed idle after {len(seen)} requests"
    return f"killed at request {target} ({seen[-1]}, {'forwarded' if forward else 'dropped'})"


def _check(world: World, book: Path, start_block: int, nonce_at_start: int, where: list[str]) -> None:
    context = f"seed {SEED}; rounds: {where}"
    intents = [i for run in journal_records(book) for i in run["intents"] if not i["fork"]]
    on_chain = _executed_on_chain(world, start_block)
    assert len(on_chain) == len(set(on_chain)), f"a bundle executed twice; {context}"
    executed = [i for i in intents if i["status"] == "executed"]
    assert sorted(i["bundle_id"] for i in executed) == sorted(on_chain), context
    assert all(i["outcome"]["matches"] == 1 for i in executed), context
    unresolved = [i["id"] for i in intents if i["status"] in ("planned", "sent")]
    assert unresolved == [], f"unresolved intents {unresolved}; {context}"
    mined = {i["outcome"]["tx_hash"] for i in intents if "outcome" in i}
    keeper = world.book.accounts["keeper"]
    nonce = world.w3.eth.get_transaction_count(keeper)
    assert nonce == world.w3.eth.get_transaction_count(keeper, "pending"), context
    assert nonce - nonce_at_start == len(mined), f"the keeper sent outside the journal; {context}"


@pytest.mark.slow
def test_a_keeper_killed_at_random_points_executes_every_intent_once(world: World, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    world.node.rpc("evm_mine")
    book = keeper_book(tmp_path)
    start_block = world.w3.eth.block_number
    nonce_at_start = world.w3.eth.get_transaction_count(world.book.accounts["keeper"])
    where: list[str] = []
    with miner(world, 0.1):
        for round_no in range(ROUNDS):
            if round_no:
                _drift(world, round_no)
            where.append(_kill_at_a_random_request(world, book, rng))
            drive(world, book, lambda steps: steps[-1].action == "hold", timeout_s=120)
            _check(world, book, start_block, nonce_at_start, where)
            # one drift, one rebalance: a second bundle would be a plan made again after a kill
            executed = _executed_on_chain(world, start_block)
            assert len(executed) == round_no + 1, f"seed {SEED}; {len(executed)} bundles; rounds: {where}"
    print(f"chaos: seed {SEED}, {ROUNDS} rounds, each drift rebalanced by one bundle executed once; {where}")
