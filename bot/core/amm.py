"""Exact Uniswap V2 integer math, pure.

Every function takes and returns integers in base units (or exact `Fraction`s for
ratios) and mirrors what the pair contract does, to the wei. Docstrings name the
Solidity function mirrored. The fee is in basis points: 30 for Uniswap V2 and Sushi,
25 for PancakeSwap V2. Square roots are floors (`math.isqrt`), which is exactly what
`Math.sqrt` (Babylonian) in UniswapV2Pair returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from bot.core.errors import MathError

FEE_DENOMINATOR = 10_000
MINIMUM_LIQUIDITY = 1_000
MAX_RESERVE = 2**112 - 1


class InsufficientInputAmount(MathError):
    """UniswapV2: INSUFFICIENT_INPUT_AMOUNT."""


class InsufficientOutputAmount(MathError):
    """UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT."""


class InsufficientLiquidity(MathError):
    """UniswapV2: INSUFFICIENT_LIQUIDITY (empty reserves, or asking for all of one)."""


class InsufficientLiquidityMinted(MathError):
    """UniswapV2: INSUFFICIENT_LIQUIDITY_MINTED."""


class InsufficientLiquidityBurned(MathError):
    """UniswapV2: INSUFFICIENT_LIQUIDITY_BURNED."""


class ReserveOverflow(MathError):
    """UniswapV2: OVERFLOW (a reserve would exceed uint112)."""


def _check_fee(fee_bps: int) -> None:
    if not 0 <= fee_bps < FEE_DENOMINATOR:
        raise MathError(f"fee_bps must be in [0, {FEE_DENOMINATOR}), got {fee_bps}")


def _check_reserves(reserve_in: int, reserve_out: int) -> None:
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidity(f"reserves {reserve_in}, {reserve_out}")


# --- swaps -------------------------------------------------------------------------------


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountOut, generalised to a fee in basis points.

    This is the largest output that passes the pair's K check for `amount_in`.
    """
    if amount_in <= 0:
        raise InsufficientInputAmount(f"amount_in {amount_in}")
    _check_reserves(reserve_in, reserve_out)
    _check_fee(fee_bps)
    in_with_fee = amount_in * (FEE_DENOMINATOR - fee_bps)
    return in_with_fee * reserve_out // (reserve_in * FEE_DENOMINATOR + in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountIn, generalised to a fee in basis points (rounds up, +1 like the library)."""
    if amount_out <= 0:
        raise InsufficientOutputAmount(f"amount_out {amount_out}")
    _check_reserves(reserve_in, reserve_out)
    _check_fee(fee_bps)
    if amount_out >= reserve_out:
        raise InsufficientLiquidity(f"amount_out {amount_out} >= reserve_out {reserve_out}")
    numerator = reserve_in * amount_out * FEE_DENOMINATOR
    denominator = (reserve_out - amount_out) * (FEE_DENOMINATOR - fee_bps)
    return numerator // denominator + 1


def quote(amount_a: int, reserve_a: int, reserve_b: int) -> int:
    """UniswapV2Library.quote: the amount of B worth `amount_a` at the reserve ratio, no fee."""
    if amount_a <= 0:
        raise InsufficientInputAmount(f"amount_a {amount_a}")
    _check_reserves(reserve_a, reserve_b)
    return amount_a * reserve_b // reserve_a


def swap_satisfies_k(
    balance0: int,
    balance1: int,
    amount0_in: int,
    amount1_in: int,
    reserve0: int,
    reserve1: int,
    fee_bps: int = 30,
) -> bool:
    """UniswapV2Pair.swap's final check: fee-adjusted balances keep K (`UniswapV2: K`)."""
    adjusted0 = balance0 * FEE_DENOMINATOR - amount0_in * fee_bps
    adjusted1 = balance1 * FEE_DENOMINATOR - amount1_in * fee_bps
    return adjusted0 * adjusted1 >= reserve0 * reserve1 * FEE_DENOMINATOR**2


@dataclass(frozen=True, slots=True)
class Hop:
    """One pair on a swap path, seen from the token that goes in."""

    reserve_in: int
    reserve_out: int
    fee_bps: int = 30


def get_amounts_out(amount_in: int, hops: Sequence[Hop]) -> list[int]:
    """UniswapV2Library.getAmountsOut: amounts along a path, first is `amount_in`.

    The hops must be distinct pairs (as on a router path): a hop does not see the
    reserves moved by an earlier hop. For a path that touches one pair twice use
    `PairState.after_swap` in sequence.
    """
    if not hops:
        raise MathError("a swap path needs at least one hop")
    amounts = [amount_in]
    for hop in hops:
        amounts.append(get_amount_out(amounts[-1], hop.reserve_in, hop.reserve_out, hop.fee_bps))
    return amounts


def get_amounts_in(amount_out: int, hops: Sequence[Hop]) -> list[int]:
    """UniswapV2Library.getAmountsIn: amounts along a path, last is `amount_out`."""
    if not hops:
        raise MathError("a swap path needs at least one hop")
    amounts = [amount_out]
    for hop in reversed(hops):
        amounts.append(get_amount_in(amounts[-1], hop.reserve_in, hop.reserve_out, hop.fee_bps))
    amounts.reverse()
    return amounts


# --- liquidity ---------------------------------------------------------------------------


def protocol_fee_liquidity(reserve0: int, reserve1: int, total_supply: int, k_last: int) -> int:
    """UniswapV2Pair._mintFee: LP minted to `feeTo` before a mint or burn (1/6 of sqrt(k) growth).

    Only call this when the factory's `feeTo` is set; with it unset the pair mints nothing.
    """
    if k_last == 0:
        return 0
    root_k = math.isqrt(reserve0 * reserve1)
    root_k_last = math.isqrt(k_last)
    if root_k <= root_k_last:
        return 0
    return total_supply * (root_k - root_k_last) // (root_k * 5 + root_k_last)


def mint_liquidity(amount0: int, amount1: int, reserve0: int, reserve1: int, total_supply: int) -> int:
    """UniswapV2Pair.mint: liquidity minted for amounts received (after any protocol-fee mint).

    `total_supply` must already include the protocol fee minted in the same call.
    """
    if amount0 < 0 or amount1 < 0:
        raise InsufficientInputAmount(f"amounts {amount0}, {amount1}")
    if total_supply == 0:
        root = math.isqrt(amount0 * amount1)
        if root <= MINIMUM_LIQUIDITY:
            raise InsufficientLiquidityMinted(f"first mint sqrt {root} <= MINIMUM_LIQUIDITY")
        return root - MINIMUM_LIQUIDITY
    _check_reserves(reserve0, reserve1)
    liquidity = min(amount0 * total_supply // reserve0, amount1 * total_supply // reserve1)
    if liquidity <= 0:
        raise InsufficientLiquidityMinted(f"amounts {amount0}, {amount1} mint nothing")
    return liquidity


def burn_amounts(liquidity: int, balance0: int, balance1: int, total_supply: int) -> tuple[int, int]:
    """UniswapV2Pair.burn: token amounts for `liquidity`, pro rata of the pair's balances.

    `total_supply` must already include the protocol fee minted in the same call.
    """
    if liquidity <= 0 or total_supply <= 0:
        raise InsufficientLiquidityBurned(f"liquidity {liquidity} of supply {total_supply}")
    amount0 = liquidity * balance0 // total_supply
    amount1 = liquidity * balance1 // total_supply
    if amount0 <= 0 or amount1 <= 0:
        raise InsufficientLiquidityBurned(f"liquidity {liquidity} returns {amount0}, {amount1}")
    return amount0, amount1


def lp_share_amounts(liquidity: int, reserve0: int, reserve1: int, total_supply: int) -> tuple[int, int]:
    """The tokens behind `liquidity` LP at these reserves (what a burn pays with `feeTo` off)."""
    if total_supply <= 0:
        return 0, 0
    return liquidity * reserve0 // total_supply, liquidity * reserve1 // total_supply


# --- pair state --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairState:
    """What a pair's math depends on. Operations return a result and the state after it.

    Attributes:
        reserve0, reserve1: the pair's reserves (uint112).
        total_supply: LP total supply, MINIMUM_LIQUIDITY included.
        k_last: reserve0*reserve1 after the last mint or burn while `feeTo` was on, else 0.
        fee_bps: the swap fee of this DEX.
        fee_on: whether the factory's `feeTo` is set (the protocol fee).
    """

    reserve0: int
    reserve1: int
    total_supply: int
    k_last: int = 0
    fee_bps: int = 30
    fee_on: bool = False

    def reserves(self, zero_for_one: bool) -> tuple[int, int]:
        """(reserve_in, reserve_out) for a swap in this direction."""
        return (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)

    def amount_out(self, amount_in: int, zero_for_one: bool) -> int:
        """Output of a swap of `amount_in` received by the pair."""
        reserve_in, reserve_out = self.reserves(zero_for_one)
        return get_amount_out(amount_in, reserve_in, reserve_out, self.fee_bps)

    def after_swap(self, amount_in: int, zero_for_one: bool) -> tuple[int, PairState]:
        """UniswapV2Pair.swap with the exact input received and the largest valid output."""
        out = self.amount_out(amount_in, zero_for_one)
        if out <= 0:
            raise InsufficientOutputAmount(f"amount_in {amount_in} buys nothing")
        if zero_for_one:
            r0, r1 = self.reserve0 + amount_in, self.reserve1 - out
        else:
            r0, r1 = self.reserve0 - out, self.reserve1 + amount_in
        _check_overflow(r0, r1)
        return out, replace(self, reserve0=r0, reserve1=r1)

    def _fee_mint(self) -> int:
        if not self.fee_on:
            return 0
        return protocol_fee_liquidity(self.reserve0, self.reserve1, self.total_supply, self.k_last)

    def _k_last_after(self, reserve0: int, reserve1: int) -> int:
        return reserve0 * reserve1 if self.fee_on else 0

    def after_mint(self, amount0: int, amount1: int) -> MintResult:
        """UniswapV2Pair.mint for amounts received by the pair, protocol fee included."""
        fee_liquidity = self._fee_mint()
        supply = self.total_supply + fee_liquidity
        liquidity = mint_liquidity(amount0, amount1, self.reserve0, self.reserve1, supply)
        if self.total_supply == 0:
            supply += MINIMUM_LIQUIDITY  # locked forever at address(0)
        r0, r1 = self.reserve0 + amount0, self.reserve1 + amount1
        _check_overflow(r0, r1)
        state = replace(
            self, reserve0=r0, reserve1=r1, total_supply=supply + liquidity, k_last=self._k_last_after(r0, r1)
        )
        return MintResult(liquidity=liquidity, fee_liquidity=fee_liquidity, state=state)

    def after_burn(self, liquidity: int) -> BurnResult:
        """UniswapV2Pair.burn of `liquidity` sent to the pair (balances equal to reserves)."""
        fee_liquidity = self._fee_mint()
        supply = self.total_supply + fee_liquidity
        amount0, amount1 = burn_amounts(liquidity, self.reserve0, self.reserve1, supply)
        r0, r1 = self.reserve0 - amount0, self.reserve1 - amount1
        state = replace(
            self, reserve0=r0, reserve1=r1, total_supply=supply - liquidity, k_last=self._k_last_after(r0, r1)
        )
        return BurnResult(amount0=amount0, amount1=amount1, fee_liquidity=fee_liquidity, state=state)


def _check_overflow(reserve0: int, reserve1: int) -> None:
    if reserve0 > MAX_RESERVE or reserve1 > MAX_RESERVE:
        raise ReserveOverflow(f"reserves {reserve0}, {reserve1} exceed uint112")


@dataclass(frozen=True, slots=True)
class MintResult:
    """Liquidity minted to the depositor, LP minted to `feeTo` first, and the pair after."""

    liquidity: int
    fee_liquidity: int
    state: PairState


@dataclass(frozen=True, slots=True)
class BurnResult:
    """Tokens paid out, LP minted to `feeTo` first, and the pair after."""

    amount0: int
    amount1: int
    fee_liquidity: int
    state: PairState


# --- zaps: depositing what you hold in whatever ratio -------------------------------------


def zap_swap_amount(amount_in: int, reserve_in: int, fee_bps: int = 30) -> int:
    """Optimal single-sided zap: how much of `amount_in` to swap before minting.

    With phi = fee_bps/10000, s = (sqrt(((2-phi) r)^2 + 4 (1-phi) a r) - (2-phi) r) / (2 (1-phi)),
    scaled by 10000 to stay in integers (floor).
    """
    if amount_in <= 0:
        raise InsufficientInputAmount(f"amount_in {amount_in}")
    if reserve_in <= 0:
        raise InsufficientLiquidity(f"reserve_in {reserve_in}")
    _check_fee(fee_bps)
    kept = FEE_DENOMINATOR - fee_bps
    b = (FEE_DENOMINATOR + kept) * reserve_in
    return (math.isqrt(b * b + 4 * kept * FEE_DENOMINATOR * amount_in * reserve_in) - b) // (2 * kept)


def balanced_swap_amount(
    amount_excess: int, amount_other: int, reserve_excess: int, reserve_other: int, fee_bps: int = 30
) -> int:
    """Two-sided imbalanced deposit: how much of the excess token to swap so the rest matches.

    Solves (a_x - s)(r_o - out(s)) = (a_o + out(s))(r_x + s) for s, which gives
    g s^2 + (F+g) r_x s - F r_x (a_x r_o - a_o r_x)/(a_o + r_o) = 0 with F = 10000, g = F - fee.
    With `amount_other` = 0 it is `zap_swap_amount`. Returns 0 when the excess side is not in excess.
    """
    _check_reserves(reserve_excess, reserve_other)
    _check_fee(fee_bps)
    surplus = amount_excess * reserve_other - amount_other * reserve_excess
    if surplus <= 0:
        return 0
    kept = FEE_DENOMINATOR - fee_bps
    b = (FEE_DENOMINATOR + kept) * reserve_excess
    scale = amount_other + reserve_other
    discriminant = b * b * scale + 4 * kept * FEE_DENOMINATOR * reserve_excess * surplus
    root = math.isqrt(discriminant * scale) // scale
    return max(0, (root - b) // (2 * kept))


@dataclass(frozen=True, slots=True)
class ZapPlan:
    """A deposit of (amount0, amount1) in any ratio: swap, then mint what matches.

    Attributes:
        swap_in: amount swapped (0 when nothing needs swapping).
        zero_for_one: direction of that swap.
        swap_out: what the swap returns.
        mint0, mint1: amounts sent to the pair for the mint.
        liquidity: LP minted.
        leftover0, leftover1: what stays with the depositor (the dust).
        state: the pair after the swap and the mint.
    """

    swap_in: int
    zero_for_one: bool
    swap_out: int
    mint0: int
    mint1: int
    liquidity: int
    leftover0: int
    leftover1: int
    state: PairState

    @property
    def dust(self) -> Fraction:
        """What the mint leaves behind, valued exactly in token1 at the pair's price after the zap."""
        return value_in_token1(self.leftover0, self.leftover1, self.state.reserve0, self.state.reserve1)


def matched_amounts(held0: int, held1: int, state: PairState) -> tuple[int, int]:
    """UniswapV2Router02._addLiquidity (and the vault's own matching): the most of both that keeps
    the pair's ratio."""
    if state.total_supply == 0:
        return held0, held1
    if held0 == 0 or held1 == 0:
        return 0, 0
    need1 = quote(held0, state.reserve0, state.reserve1)
    if need1 <= held1:
        return held0, need1
    return quote(held1, state.reserve1, state.reserve0), held1


def _zap_with_swap(amount0: int, amount1: int, state: PairState, swap_in: int, zero_for_one: bool) -> ZapPlan:
    held0, held1 = amount0, amount1
    swap_out = 0
    if swap_in > 0:
        swap_out, state = state.after_swap(swap_in, zero_for_one)
        if zero_for_one:
            held0, held1 = held0 - swap_in, held1 + swap_out
        else:
            held0, held1 = held0 + swap_out, held1 - swap_in
    mint0, mint1 = matched_amounts(held0, held1, state)
    minted = state.after_mint(mint0, mint1)
    return ZapPlan(
        swap_in=swap_in,
        zero_for_one=zero_for_one,
        swap_out=swap_out,
        mint0=mint0,
        mint1=mint1,
        liquidity=minted.liquidity,
        leftover0=held0 - mint0,
        leftover1=held1 - mint1,
        state=minted.state,
    )


@dataclass(frozen=True, slots=True)
class _ZapSplits:
    """Every split of one zap: swap s of the excess token x for token y, then mint what matches.

    Written in x/y terms (x is token0 when `zero_for_one`). After a swap of s the depositor
    holds (hold_x, hold_y) = (amount_x - s, amount_y + out(s)) and the pair has
    (reserve_x + s, reserve_y - out(s)). A swap of s > 0 that buys nothing is not a split,
    so s runs over 0 and [least_input(1), amount_x].
    """

    amount0: int
    amount1: int
    state: PairState
    zero_for_one: bool
    amount_x: int
    amount_y: int
    reserve_x: int
    reserve_y: int
    supply_max: int  # no split's mint sees a larger total supply (the protocol fee grows with k)

    @classmethod
    def of(cls, amount0: int, amount1: int, state: PairState, zero_for_one: bool) -> _ZapSplits:
        amount_x, amount_y = (amount0, amount1) if zero_for_one else (amount1, amount0)
        reserve_x, reserve_y = state.reserves(zero_for_one)
        supply_max = state.total_supply
        if state.fee_on:
            # after any swap the pair holds at most reserve_x + amount_x of x and reserve_y of y
            supply_max += protocol_fee_liquidity(
                reserve_x + amount_x, reserve_y, state.total_supply, state.k_last
            )
        return cls(
            amount0, amount1, state, zero_for_one, amount_x, amount_y, reserve_x, reserve_y, supply_max
        )

    def output(self, swap_in: int) -> int:
        if swap_in == 0:
            return 0
        return get_amount_out(swap_in, self.reserve_x, self.reserve_y, self.state.fee_bps)

    def least_input(self, amount_out: int) -> int:
        """The least swap that buys `amount_out` (amount_x + 1 when no split does).

        UniswapV2Library.getAmountIn without its +1 on an exact division: the exact ceiling of
        what UniswapV2Pair.swap's K check accepts.
        """
        if amount_out >= self.reserve_y:
            return self.amount_x + 1
        numerator = self.reserve_x * amount_out * FEE_DENOMINATOR
        denominator = (self.reserve_y - amount_out) * (FEE_DENOMINATOR - self.state.fee_bps)
        return min(-(-numerator // denominator), self.amount_x + 1)

    def after(self, swap_in: int) -> tuple[int, int, int, int]:
        """(hold_x, hold_y, pair_x, pair_y) after a swap of `swap_in`."""
        out = self.output(swap_in)
        return self.amount_x - swap_in, self.amount_y + out, self.reserve_x + swap_in, self.reserve_y - out

    def supply(self, swap_in: int) -> int:
        """Total supply the mint after a swap of `swap_in` divides by (the protocol fee minted first)."""
        if not self.state.fee_on:
            return self.state.total_supply
        _, _, pair_x, pair_y = self.after(swap_in)
        return self.state.total_supply + protocol_fee_liquidity(
            pair_x, pair_y, self.state.total_supply, self.state.k_last
        )

    def run(self, swap_in: int) -> tuple[int, int]:
        """First and last swap (within amount_x) that buy the same output as `swap_in`."""
        out = self.output(swap_in)
        start = self.least_input(out) if out > 0 else 0
        return start, min(self.amount_x, self.least_input(out + 1) - 1)

    def leaves_y(self, swap_in: int) -> bool:
        """Whether the router's match after this swap mints all of x and leaves y (or nothing).

        The router quotes token0 first (`matched_amounts`); the two branches below are that
        test written for x = token0 and for x = token1.
        """
        hold_x, hold_y, pair_x, pair_y = self.after(swap_in)
        if self.zero_for_one:
            return hold_x * pair_y // pair_x <= hold_y
        return hold_y * pair_x // pair_y > hold_x

    def plan(self, swap_in: int) -> ZapPlan | None:
        """The zap with this swap, or None when its mint mints nothing."""
        try:
            return _zap_with_swap(self.amount0, self.amount1, self.state, swap_in, self.zero_for_one)
        except InsufficientLiquidityMinted:
            return None

    def boundary(self, guess: int) -> int:
        """The least swap after which the match leaves y, amount_x + 1 if none; galloping from `guess`.

        `leaves_y` is monotone in the swap: a larger swap holds less x and more y while the pair
        holds more x and less y, so the quote of x in y only falls and the quote of y in x only rises.
        """
        guess = min(max(guess, 0), self.amount_x)
        step = 1
        if self.leaves_y(guess):
            low, high = guess - 1, guess  # invariant: not leaves_y(low) (or low = -1), leaves_y(high)
            while low >= 0 and self.leaves_y(low):
                high, low, step = low, max(guess - 2 * step, -1), 2 * step
        else:
            low, high = guess, guess + 1
            while high <= self.amount_x and not self.leaves_y(high):
                low, high, step = high, min(guess + 2 * step, self.amount_x + 1), 2 * step
        while high - low > 1:
            middle = (low + high) // 2
            if self.leaves_y(middle):
                high = middle
            else:
                low = middle
        return high

    def last_minting_below(self, boundary: int) -> ZapPlan | None:
        """The largest swap below `boundary` whose mint mints something.

        Below the boundary the mint takes all of y and floor(hold_y * pair_x / pair_y) of x.
        Within one run of equal output hold_y and pair_y are fixed and the total supply only
        falls as the swap does, so each skip below passes over splits that cannot mint.
        """
        first = self.least_input(1)
        swap_in = boundary - 1
        while swap_in >= 0:
            if 0 < swap_in < first:
                swap_in = 0  # these buy nothing
            _, hold_y, pair_x, pair_y = self.after(swap_in)
            if hold_y * self.supply_max < pair_y:
                return None  # y is below one LP wei here, and below it for every smaller swap
            plan = self.plan(swap_in)
            if plan is not None or swap_in == 0:
                return plan
            start, _ = self.run(swap_in)
            supply = self.supply(swap_in)
            if hold_y * supply < pair_y:
                swap_in = start - 1  # the y side mints nothing for the rest of this run
                continue
            # the x side needs pair_x <= mint_x * supply, and neither factor grows as the swap falls
            mint_x = hold_y * pair_x // pair_y
            swap_in = min(swap_in - 1, mint_x * supply - self.reserve_x)
            if swap_in < start:
                swap_in = start - 1
        return None

    def first_minting_from(self, boundary: int) -> ZapPlan | None:
        """The smallest swap at or above `boundary` whose mint mints something.

        From the boundary on the mint takes all of x and floor(hold_x * pair_y / pair_x) of y:
        both fall as the swap grows, so a split that cannot mint is passed over until the total
        supply (which only grows within a run of equal output) reaches what the next one needs.
        """
        first = self.least_input(1)
        swap_in = first if 0 < boundary < first else boundary
        while swap_in <= self.amount_x:
            hold_x, _, pair_x, _ = self.after(swap_in)
            if hold_x * self.supply_max < pair_x:
                return None  # x is below one LP wei here, and below it for every larger swap
            plan = self.plan(swap_in)
            if plan is not None:
                return plan
            if swap_in == 0:
                swap_in = first
                continue
            _, end = self.run(swap_in)
            if swap_in == end:
                swap_in += 1
                continue
            # every later split of this run holds at most this much x and mints at most this much y
            hold_x, _, pair_x, pair_y = self.after(swap_in + 1)
            mint_y = hold_x * pair_y // pair_x
            if hold_x == 0 or mint_y == 0:
                swap_in = end + 1
                continue
            target = max(-(-pair_x // hold_x), -(-pair_y // mint_y))
            swap_in = self._first_supply_at_least(target, swap_in + 1, end)
        return None

    def _first_supply_at_least(self, target: int, start: int, end: int) -> int:
        """The first swap in [start, end] (one run) whose mint sees `target` supply, end + 1 if none."""
        if self.supply(end) < target:
            return end + 1
        low, high = start - 1, end
        while high - low > 1:
            middle = (low + high) // 2
            if self.supply(middle) >= target:
                high = middle
            else:
                low = middle
        return high


def plan_zap(amount0: int, amount1: int, state: PairState) -> ZapPlan:
    """Deposit (amount0, amount1) into an existing pair with the least dust, exactly.

    Dust is `ZapPlan.dust`: what the mint leaves behind, valued in token1 at the pair's price
    after the zap. The excess token x (token0 when amount0/amount1 >= reserve0/reserve1) is
    swapped; a swap of the other token only adds to the excess. Over all swaps of x the dust
    falls strictly up to the first swap after which the router's match leaves y instead of x
    (the boundary) and never falls after it: below the boundary the x left over shrinks by at
    least a wei per wei swapped while x's price in y does not rise (all of y is minted, so the
    pair ends with reserve_y + amount_y); from the boundary on the y left over never shrinks
    while y's price in x does not fall (all of x is minted). So the least dust is at the last
    swap below the boundary or at the boundary, found by bisection from the closed form
    `balanced_swap_amount`. Flat runs of swaps that buy the same output (steep prices) put the
    boundary up to a run away from that estimate.

    A split that mints nothing does not count. When a deposit is worth about one LP wei the
    boundary may mint nothing; the search then walks outwards to the nearest split that mints.

    Ties go to the smaller swap.
    """
    if amount0 < 0 or amount1 < 0 or amount0 + amount1 == 0:
        raise InsufficientInputAmount(f"amounts {amount0}, {amount1}")
    if state.total_supply == 0:
        raise InsufficientLiquidity("a zap needs an existing price; first mint takes the amounts as given")
    zero_for_one = amount0 * state.reserve1 >= amount1 * state.reserve0
    splits = _ZapSplits.of(amount0, amount1, state, zero_for_one)
    guess = balanced_swap_amount(
        splits.amount_x, splits.amount_y, splits.reserve_x, splits.reserve_y, state.fee_bps
    )
    boundary = splits.boundary(guess)
    plans = [
        plan
        for plan in (splits.last_minting_below(boundary), splits.first_minting_from(boundary))
        if plan is not None
    ]
    if not plans:
        raise InsufficientLiquidityMinted(f"amounts {amount0}, {amount1} are too small to mint")
    return min(plans, key=lambda plan: (plan.dust, plan.swap_in))


# --- impermanent loss and fee income -------------------------------------------------------


def impermanent_loss(price_ratio: float) -> float:
    """IL of a 50/50 constant-product position versus holding, at price ratio k: 2*sqrt(k)/(1+k) - 1.

    A strategy-level ratio (float), always <= 0; k is new price / entry price.
    """
    if price_ratio <= 0:
        raise MathError(f"price ratio must be positive, got {price_ratio}")
    return 2 * math.sqrt(price_ratio) / (1 + price_ratio) - 1


def value_in_token1(amount0: int, amount1: int, reserve0: int, reserve1: int) -> Fraction:
    """Exact value of (amount0, amount1) in token1 at the pair's spot price reserve1/reserve0."""
    _check_reserves(reserve0, reserve1)
    return Fraction(amount0 * reserve1, reserve0) + amount1


def impermanent_loss_exact(
    deposit0: int, deposit1: int, now0: int, now1: int, reserve0: int, reserve1: int
) -> Fraction:
    """Position-level IL: value of the LP's tokens now / value of the deposited tokens now, minus 1.

    Both sides are valued at the pair's current price, so fee income is included (it
    makes this larger than the closed form) and the result is exact.
    """
    held = value_in_token1(deposit0, deposit1, reserve0, reserve1)
    if held == 0:
        raise MathError("nothing deposited")
    return value_in_token1(now0, now1, reserve0, reserve1) / held - 1


def sqrt_k_per_share(reserve0: int, reserve1: int, total_supply: int) -> Fraction:
    """sqrt(r0*r1)/totalSupply: grows only with swap fees (mints and burns keep it, up to rounding)."""
    if total_supply <= 0:
        raise InsufficientLiquidity(f"total_supply {total_supply}")
    return Fraction(math.isqrt(reserve0 * reserve1), total_supply)


def fee_growth(before: PairState, after: PairState) -> Fraction:
    """Fee income per LP share between two states of one pair, as a fraction (0.01 = 1%)."""
    start = sqrt_k_per_share(before.reserve0, before.reserve1, before.total_supply)
    end = sqrt_k_per_share(after.reserve0, after.reserve1, after.total_supply)
    return end / start - 1
