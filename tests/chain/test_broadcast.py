"""How the node's answers to eth_sendRawTransaction are read, on real anvil: a transaction the node
already holds, or has mined, counts as sent; another transaction on the same nonce is refused."""

from __future__ import annotations

import asyncio

from bot.chain import rpc
from bot.core.fees import Fees
from bot.tx.transactions import SendFailed, Signed, broadcast, sign
from tests.chain.conftest import World
from tests.chain.keeper_harness import keeper_account

FEES = Fees(max_fee=100 * 10**9, tip=10**9, next_base_fee=0)


def _two_on_one_nonce(world: World) -> tuple[Signed, Signed]:
    """Two transfers from the keeper on its next nonce: to itself and to the owner."""
    account = keeper_account()
    nonce = world.w3.eth.get_transaction_count(account.address, "pending")
    ours, rival = (
        sign(account, chain_id=world.book.chain_id, to=to, data=b"", nonce=nonce, gas_limit=21_000, fees=FEES)
        for to in (account.address, world.book.accounts["owner"])
    )
    return ours, rival


def _send(world: World, signed: Signed) -> tuple[str | None, str]:
    """The node's raw answer to one more send of `signed` (its error message, None for a hash),
    then what `broadcast` makes of a send after that: "sent" or the refusal."""

    async def both() -> tuple[str | None, str]:
        async with rpc.connect(world.node.url) as w3:
            answer = await rpc.request(w3, "eth_sendRawTransaction", [signed.raw])
            try:
                await broadcast(w3, signed.raw, signed.tx_hash)
            except SendFailed as exc:
                return answer.get("error", {}).get("message"), str(exc)
            return answer.get("error", {}).get("message"), "sent"

    return asyncio.run(both())


def test_a_transaction_the_node_holds_counts_as_sent_and_a_rival_on_its_nonce_is_refused(
    world: World, manual_mining: None
) -> None:
    ours, rival = _two_on_one_nonce(world)
    # the first send puts it in the pool; the node then answers "already imported": sent
    assert _send(world, ours) == (None, "sent")
    assert _send(world, ours) == ("transaction already imported", "sent")
    message, outcome = _send(world, rival)
    assert message == "replacement transaction underpriced"
    assert outcome.endswith(f"refused transaction {rival.tx_hash}: replacement transaction underpriced")


def test_nonce_too_low_counts_as_sent_only_for_the_transaction_that_used_the_nonce(world: World) -> None:
    ours, rival = _two_on_one_nonce(world)
    assert _send(world, ours)[0] is None  # automine: mined at once
    world.w3.eth.wait_for_transaction_receipt(ours.tx_hash, timeout=30, poll_latency=0.02)
    assert _send(world, ours) == ("nonce too low", "sent")  # mined: by itself
    message, outcome = _send(world, rival)
    assert message == "nonce too low" and outcome.endswith(
        f"refused transaction {rival.tx_hash}: nonce too low"
    )
