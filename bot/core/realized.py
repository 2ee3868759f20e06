"""What a mined bundle did, op by op, from its receipt's logs. Pure.

Every op ends with one event of its pair (a zap with two: Swap then Mint): Burn, Swap or
Mint. The logs up to that event belong to the op, and the op's amounts are the vault's
token movements among them: ERC-20 `Transfer`s from the vault (spent) and to it
(received), LP tokens included (the pair is the LP token's contract). Predicted and realized
amounts then compare exactly, as the planner keys them: token (or pair, for LP) address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from bot.core.address_book import checksum
from bot.core.errors import RpcError
from bot.core.executor_ops import Burn, Mint, Op, Swap, Trade, Zap, trades

TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
PAIR_BURN = "0x" + keccak(text="Burn(address,uint256,uint256,address)").hex()
PAIR_SWAP = "0x" + keccak(text="Swap(address,uint256,uint256,uint256,uint256,address)").hex()
PAIR_MINT = "0x" + keccak(text="Mint(address,uint256,uint256)").hex()
PAIR_SYNC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
OP_ENDS = (PAIR_BURN, PAIR_SWAP, PAIR_MINT)


@dataclass(frozen=True, slots=True)
class OpMovement:
    """What one op took from the vault and gave to it, by token (or pair, for LP) address."""

    spent: Mapping[str, int]
    received: Mapping[str, int]


def _topic_address(topic: str) -> str:
    return checksum("0x" + topic[-40:])


def _events_per_op(op: Trade) -> int:
    return 2 if isinstance(op, Zap) else 1


def op_movements(bundle: Sequence[Op], logs: Sequence[Mapping[str, Any]], vault: str) -> list[OpMovement]:
    """The vault's movements per trading op (floors move nothing), from a receipt's logs (JSON-RPC form).

    Raises:
        RpcError: the logs do not have one closing pair event per op, in order.
    """
    vault = checksum(vault)
    ops = trades(bundle)
    ends: list[str] = []
    for op in ops:
        ends += [checksum(op.pair)] * _events_per_op(op)
    out: list[OpMovement] = []
    spent: dict[str, int] = {}
    received: dict[str, int] = {}
    closed = 0  # pair events seen
    for entry in logs:
        topics = [str(t).lower() for t in entry.get("topics", [])]
        if not topics:
            continue
        emitter = checksum(str(entry["address"]))
        if topics[0] == TRANSFER and len(topics) == 3:
            amount = int(str(entry.get("data") or "0x0"), 16)
            if _topic_address(topics[1]) == vault:
                spent[emitter] = spent.get(emitter, 0) + amount
            if _topic_address(topics[2]) == vault:
                received[emitter] = received.get(emitter, 0) + amount
        elif topics[0] in OP_ENDS:
            if closed >= len(ends) or emitter != ends[closed]:
                raise RpcError(f"receipt: pair event of {emitter} does not belong to op {len(out) + 1}")
            closed += 1
            if sum(_events_per_op(op) for op in ops[: len(out) + 1]) == closed:
                out.append(OpMovement(spent, received))
                spent, received = {}, {}
    if len(out) != len(ops):
        raise RpcError(f"receipt: {len(out)} of the bundle's {len(ops)} ops found in the logs")
    return out


def synced_reserves(logs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Each pair's reserves after this transaction: its last `Sync` event in the logs."""
    out: dict[str, tuple[int, int]] = {}
    for entry in logs:
        topics = [str(t).lower() for t in entry.get("topics", [])]
        if topics and topics[0] == PAIR_SYNC:
            data = bytes.fromhex(str(entry["data"])[2:])
            out[checksum(str(entry["address"]))] = (
                int.from_bytes(data[:32], "big"),
                int.from_bytes(data[32:64], "big"),
            )
    return out


def nonzero(amounts: Mapping[str, int]) -> dict[str, int]:
    return {a: v for a, v in amounts.items() if v}


def op_matches(predicted_spent: Mapping[str, int], predicted_received: Mapping[str, int],
               realized: OpMovement) -> bool:  # fmt: skip
    """Whether an op moved exactly the predicted amounts."""
    return nonzero(predicted_spent) == nonzero(realized.spent) and nonzero(predicted_received) == nonzero(
        realized.received
    )


__all__ = ["Burn", "Mint", "OpMovement", "Swap", "op_matches", "op_movements"]
