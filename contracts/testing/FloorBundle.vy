#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title FloorBundle
@notice Benchmark fixture: the bare pair calls of one rebalance (burn in pair A,
        swap the proceeds in A, mint in pair B) with no checks at all: no roles,
        no allowlist, no deadline, no minimums, no guard, no event. It is the gas
        floor the executor is measured against. Never deploy it with funds.
"""
from ethereum.ercs import IERC20


interface IPair:
    def getReserves() -> (uint112, uint112, uint32): view
    def transfer(to: address, amount: uint256) -> bool: nonpayable
    def swap(amount0_out: uint256, amount1_out: uint256, to: address, data: Bytes[32]): nonpayable
    def mint(to: address) -> uint256: nonpayable
    def burn(to: address) -> (uint256, uint256): nonpayable


@external
def run(
    pair_a: address,
    liquidity: uint256,
    token_in: address,
    amount_in: uint256,
    zero_for_one: bool,
    pair_b: address,
    token0_b: address,
    token1_b: address,
    amount0_b: uint256,
    amount1_b: uint256,
):
    extcall IPair(pair_a).transfer(pair_a, liquidity)
    extcall IPair(pair_a).burn(self)
    extcall IERC20(token_in).transfer(pair_a, amount_in)
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair_a).getReserves()
    reserve_in: uint256 = convert(r0 if zero_for_one else r1, uint256)
    reserve_out: uint256 = convert(r1 if zero_for_one else r0, uint256)
    in_with_fee: uint256 = amount_in * 9970
    out: uint256 = in_with_fee * reserve_out // (reserve_in * 10000 + in_with_fee)
    if zero_for_one:
        extcall IPair(pair_a).swap(0, out, self, b"")
    else:
        extcall IPair(pair_a).swap(out, 0, self, b"")
    extcall IERC20(token0_b).transfer(pair_b, amount0_b)
    extcall IERC20(token1_b).transfer(pair_b, amount1_b)
    extcall IPair(pair_b).mint(self)
