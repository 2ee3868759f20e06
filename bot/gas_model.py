"""Gas of an `execute` bundle before it is sent: calldata exactly, execution per op. Pure.

Calldata is priced exactly (EIP-2028: 16 gas per non-zero byte, 4 per zero byte). Execution
is modelled per op, with a surcharge for the first touch of a pair (cold account and storage
under EIP-2929); the figures were measured on anvil against the real V2 pairs (see
tests/chain/test_planner_chain.py, which holds the model within 10% of gasUsed). The keeper
replaces the model with eth_estimateGas before it sends anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.executor_ops import Burn, Mint, Op, Swap, Zap

TX_BASE = 21_000
CALLDATA_ZERO = 4
CALLDATA_NONZERO = 16


@dataclass(frozen=True, slots=True)
class GasModel:
    """Gas units of a bundle: intrinsic + calldata + execute overhead + per op (+ first touch of a pair)."""

    execute_overhead: int = 12_000
    burn: int = 62_000
    swap: int = 50_000
    mint: int = 78_000
    zap: int = 130_000
    first_touch: int = 9_000

    def execution(self, ops: Sequence[Op]) -> int:
        """Gas spent inside `execute`."""
        per_op = {Burn: self.burn, Swap: self.swap, Mint: self.mint, Zap: self.zap}
        touched: set[str] = set()
        gas = self.execute_overhead
        for op in ops:
            gas += per_op[type(op)]
            if op.pair not in touched:
                touched.add(op.pair)
                gas += self.first_touch
        return gas

    def total(self, ops: Sequence[Op], calldata: bytes) -> int:
        """Gas units of the whole transaction."""
        zeros = calldata.count(0)
        return (
            TX_BASE + zeros * CALLDATA_ZERO + (len(calldata) - zeros) * CALLDATA_NONZERO + self.execution(ops)
        )
