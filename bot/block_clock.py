"""Blocks by time: the last block at or before a timestamp (binary search over headers)."""

from __future__ import annotations

from typing import Any

from web3 import AsyncWeb3

from bot import rpc
from bot.errors import RpcError


async def block_timestamp(w3: AsyncWeb3[Any], number: int) -> int:
    """The timestamp of block `number`."""
    header = await rpc.result(w3, "eth_getBlockByNumber", [hex(number), False])
    if not isinstance(header, dict) or "timestamp" not in header:
        raise RpcError(f"block {number} from {rpc.provider_label(w3)} has no header")
    return int(header["timestamp"], 16)


async def block_at_or_before(w3: AsyncWeb3[Any], timestamp: int, head: int) -> int | None:
    """The highest block <= `head` whose timestamp is <= `timestamp`; None if even block 0 is later.

    Takes about log2(head) header reads.
    """
    if await block_timestamp(w3, 0) > timestamp:
        return None
    low, high = 0, head
    while low < high:
        middle = (low + high + 1) // 2
        if await block_timestamp(w3, middle) <= timestamp:
            low = middle
        else:
            high = middle - 1
    return low
