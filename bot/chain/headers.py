"""Block headers: the one parser of `eth_getBlockByNumber` answers and `newHeads` notifications (IO)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.core.errors import RpcError


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: str
    timestamp: int
    base_fee: int
    seen_at: float  # time.perf_counter() when this process learnt of it


def parse_head(raw: Any, seen_at: float | None = None) -> Head:
    """A block header (eth_getBlockByNumber or a newHeads notification) as a Head.

    Raises:
        RpcError: it is not a header.
    """
    try:
        return Head(
            number=int(raw["number"], 16),
            hash=str(raw["hash"]),
            timestamp=int(raw["timestamp"], 16),
            base_fee=int(raw.get("baseFeePerGas") or "0x0", 16),
            seen_at=time.perf_counter() if seen_at is None else seen_at,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RpcError(f"a head that is not a block header: {str(raw)[:80]!r}") from None


async def find_header(w3: AsyncWeb3[Any], block: int | str) -> Head | None:
    """The header of `block` (a number or a tag such as "latest"); None when the node has no such
    block (the chain is shorter, after a reorg say).

    Raises:
        RpcError: the node failed, or answered something that is not a header.
    """
    raw = await rpc.result(
        w3, "eth_getBlockByNumber", [hex(block) if isinstance(block, int) else block, False]
    )
    return None if raw is None else parse_head(raw)


async def header_at(w3: AsyncWeb3[Any], block: int | str) -> Head:
    """The header of `block`; RpcError when the node has none (or answers something else)."""
    found = await find_header(w3, block)
    if found is None:
        raise RpcError(f"{rpc.provider_label(w3)} has no block {block}")
    return found
