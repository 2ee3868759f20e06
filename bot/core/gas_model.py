"""Gas of an `execute` bundle before it is sent: calldata exactly, execution from the bundle's shape. Pure.

Calldata is priced exactly (EIP-2028: 16 gas per non-zero byte, 4 per zero byte). Execution
is a linear model fitted by least squares to gasUsed of random plans on anvil against the
real V2 pairs: per op, per first touch of a pair and of a token (cold accounts and slots,
EIP-2929), per storage slot of the vault going from zero to non-zero (or back, a refund), and
per pair whose price oracle is written for the first time, and, on a vault with the owner's
guards on, per touched pair (its spot against the vault's TWAP, before and after) and per
guard counter written (cooldown, daily cap). A `poke` (the vault's own price observations,
sent by the keeper to keep its TWAP usable) is priced the same way. tests/chain/
test_planner_chain.py holds bundles within 5% of gasUsed, and pokes exactly; the keeper asks
eth_estimateGas before it sends anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.executor_ops import Burn, Floor, Mint, Op, Swap, Zap

TX_BASE = 21_000
CALLDATA_ZERO = 4
CALLDATA_NONZERO = 16


@dataclass(frozen=True, slots=True)
class BundleShape:
    """What a bundle touches, beyond its ops.

    Attributes:
        tokens: distinct tokens moved.
        new_slots: vault balances (tokens or LP) that go from zero to non-zero.
        cleared_slots: vault balances that go from non-zero to zero.
        fresh_oracles: pairs whose cumulative prices are still zero (their first write costs more).
        guarded_pairs: pairs the vault's TWAP guard checks (every touched pair while it is on).
        guard_counters_new / guard_counters: the cooldown's and the daily cap's counters written
            for the first time / again.
    """

    tokens: int = 0
    new_slots: int = 0
    cleared_slots: int = 0
    fresh_oracles: int = 0
    guarded_pairs: int = 0
    guard_counters_new: int = 0
    guard_counters: int = 0


@dataclass(frozen=True, slots=True)
class GasModel:
    """Gas units of an `execute` transaction, refitted on anvil 1.7.1 (cancun) by least squares to
    70 planner bundles on the world (10-11 ops, random targets and price moves, a third on a
    guarded vault): the worst residual 2.0% of gasUsed (the model before: 8.9%). A planner
    bundle floors every asset it touches, so floors and first touches move together and the
    fit splits their cost between them: each figure is the fit's, not a measurement of one
    opcode path. Zaps (none in the sample) are priced as a swap and a mint; fresh oracles and
    the guards' counters written again as measured alone."""

    execute_overhead: int = 2_624
    burn: int = 11_655
    swap: int = 18_195
    mint: int = 4_089
    zap: int = 22_300
    pair_first_touch: int = 15_744
    token_first_touch: int = 13_120
    new_slot: int = 18_819
    cleared_slot: int = -3_835
    fresh_oracle: int = 40_700
    floor: int = 28_863
    guard_first_pair: int = 3_949  # the first pair the TWAP guard checks (before, observed, after)
    guard_pair: int = 19_746  # each further one
    guard_counter_new: int = 19_021  # the cooldown's or the daily cap's counter, first written
    guard_counter: int = 5_100
    poke_overhead: int = 554
    poke_guards_read: int = 2_000  # the guards' word, cold, read once a pair has observations
    poke_pair: int = 15_457  # a pair read and its observations compared (nothing written)
    poke_record: int = 3_070  # the observation written over the older one
    poke_fresh: int = 40_003  # a pair's first observation: both words from zero

    def execution(self, ops: Sequence[Op], shape: BundleShape) -> int:
        """Gas spent inside `execute`."""
        per_op = {Burn: self.burn, Swap: self.swap, Mint: self.mint, Zap: self.zap, Floor: self.floor}
        pairs = len({op.pair for op in ops if not isinstance(op, Floor)})
        return (
            self.execute_overhead
            + sum(per_op[type(op)] for op in ops)
            + pairs * self.pair_first_touch
            + shape.tokens * self.token_first_touch
            + shape.new_slots * self.new_slot
            + shape.cleared_slots * self.cleared_slot
            + shape.fresh_oracles * self.fresh_oracle
            + (
                self.guard_first_pair + (shape.guarded_pairs - 1) * self.guard_pair
                if shape.guarded_pairs
                else 0
            )
            + shape.guard_counters_new * self.guard_counter_new
            + shape.guard_counters * self.guard_counter
        )

    def total(self, ops: Sequence[Op], calldata: bytes, shape: BundleShape) -> int:
        """Gas units of the whole transaction."""
        return TX_BASE + calldata_gas(calldata) + self.execution(ops, shape)

    def poke(self, calldata: bytes, recorded: int, fresh: int = 0) -> int:
        """Gas units of a `poke` transaction whose `recorded` pairs write an observation over an
        older one and whose `fresh` pairs get their first (the others only read)."""
        pairs = (len(calldata) - 68) // 32
        return (
            TX_BASE
            + calldata_gas(calldata)
            + self.poke_overhead
            + (self.poke_guards_read if pairs > fresh else 0)
            + pairs * self.poke_pair
            + recorded * self.poke_record
            + fresh * self.poke_fresh
        )


def calldata_gas(calldata: bytes) -> int:
    """EIP-2028: 16 gas a non-zero byte, 4 a zero byte."""
    zeros = calldata.count(0)
    return zeros * CALLDATA_ZERO + (len(calldata) - zeros) * CALLDATA_NONZERO
