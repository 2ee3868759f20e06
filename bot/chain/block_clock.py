"""Blocks by time: the last block at or before a timestamp (binary search over headers)."""

from __future__ import annotations

from typing import Any

from web3 import AsyncWeb3

from bot.chain.headers import header_at


async def block_timestamp(w3: AsyncWeb3[Any], block: int | str) -> int:
    """The timestamp of `block` (a number or a tag)."""
    return (await header_at(w3, block)).timestamp


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


class BlockClock:
    """`block_at_or_before` for a keeper asking every head: block timestamps are cached, and a
    window start that moved a few blocks since the last head is found by walking forward
    (one or two header reads per head instead of a binary search)."""

    WALK_LIMIT = 32

    def __init__(self, w3: AsyncWeb3[Any]) -> None:
        self.w3 = w3
        self._timestamps: dict[int, int] = {}
        self._last: int | None = None

    async def timestamp(self, number: int) -> int:
        if number not in self._timestamps:
            self._timestamps[number] = await block_timestamp(self.w3, number)
        return self._timestamps[number]

    async def at_or_before(self, timestamp: int, head: int) -> int | None:
        last = self._last
        if last is not None and last <= head and await self.timestamp(last) <= timestamp:
            for _ in range(self.WALK_LIMIT):
                if last >= head or await self.timestamp(last + 1) > timestamp:
                    return self._found(last)
                last += 1
        return self._found(await block_at_or_before(self.w3, timestamp, head))

    def _found(self, block: int | None) -> int | None:
        self._last = block
        if block is not None:  # earlier blocks are never asked again
            self._timestamps = {n: t for n, t in self._timestamps.items() if n >= block}
        return block
