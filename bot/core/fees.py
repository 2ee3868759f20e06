"""EIP-1559 fees from an `eth_feeHistory` answer. Pure.

The tip is the median, over the recent blocks, of the reward at the book's percentile (never
below its floor); the fee cap is the next block's base fee times the headroom, plus the tip:
with headroom 2 the transaction stays includable through five full blocks in a row (each may
raise the base fee by 12.5%; 1.125^5 < 2 < 1.125^6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import median_low
from typing import Any

from bot.core.errors import RpcError

GWEI = 10**9
FEE_HISTORY_BLOCKS = 10


@dataclass(frozen=True, slots=True)
class Fees:
    """A type-2 transaction's fees, in wei per gas."""

    max_fee: int
    tip: int
    next_base_fee: int


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(f"eth_feeHistory answered {what} {value!r}, not a hex quantity")


def fees_from_history(history: Mapping[str, Any], min_tip: int, headroom: int = 2) -> Fees:
    """Fees from `eth_feeHistory(N, "latest", [percentile])`.

    Raises:
        RpcError: the answer has no next base fee or is malformed.
    """
    base_fees = history.get("baseFeePerGas")
    if not isinstance(base_fees, list) or not base_fees:
        raise RpcError("eth_feeHistory answered no baseFeePerGas (is the chain pre-London?)")
    next_base = _quantity(base_fees[-1], "baseFeePerGas")
    rewards = [
        _quantity(block[0], "reward")
        for block in history.get("reward") or []
        if isinstance(block, list) and block
    ]
    tip = max(median_low(rewards) if rewards else 0, min_tip)
    return Fees(max_fee=next_base * headroom + tip, tip=tip, next_base_fee=next_base)


def capped(fees: Fees, max_fee: int | None) -> Fees | None:
    """`fees` held to `max_fee` (the fee cap lowered to it), or None when the next block's base
    fee plus the tip is above it (not includable at that price: wait)."""
    if max_fee is None:
        return fees
    if fees.next_base_fee + fees.tip > max_fee:
        return None
    return Fees(min(fees.max_fee, max_fee), fees.tip, fees.next_base_fee)


@dataclass(frozen=True, slots=True)
class Wait:
    """Why a pending transaction is not replaced now; `final` when it never will be."""

    reason: str
    final: bool = False


def replacement_wait(
    waited_blocks: int,
    replacements: int,
    deadline: int,
    now: int,
    *,
    after_blocks: int,
    max_replacements: int,
) -> Wait | None:
    """None when a transaction still pending should be replaced now (same nonce, higher fees).

    Args:
        waited_blocks: heads since its latest version was broadcast.
        replacements: versions broadcast after the first.
        deadline, now: the bundle's deadline and the head's timestamp (unix seconds).
        after_blocks, max_replacements: the book's `replace_after_blocks` and `max_replacements`.
    """
    if waited_blocks < after_blocks:
        return Wait(f"it has waited {waited_blocks} of {after_blocks} blocks")
    if deadline <= now:
        return Wait("it is past its deadline: a replacement could only revert", final=True)
    if replacements >= max_replacements:
        return Wait(f"{replacements} replacements made; it is left to be mined or dropped", final=True)
    return None


def _raised(value: int, bump_bps: int) -> int:
    """`value` raised by `bump_bps`, rounded up, and by at least 1 wei."""
    return max(-(-value * (10_000 + bump_bps) // 10_000), value + 1)


def bumped(previous: Fees, market: Fees, bump_bps: int = 1250, max_fee: int | None = None) -> Fees | None:
    """The fees of a replacement on the same nonce: both the fee cap and the tip raised by at
    least `bump_bps` over `previous` (rounded up; geth refuses less than +10% on either), and at
    least what the market asks now. None when the raised fee cap would exceed `max_fee`.
    """
    tip = max(_raised(previous.tip, bump_bps), market.tip)
    fee_cap = max(_raised(previous.max_fee, bump_bps), market.max_fee, tip)
    if max_fee is not None and fee_cap > max_fee:
        floor = max(_raised(previous.max_fee, bump_bps), tip)
        if floor > max_fee:
            return None
        fee_cap = max_fee
    return Fees(max_fee=fee_cap, tip=tip, next_base_fee=market.next_base_fee)
