#pragma version ~=0.4.3
"""
@title HostilePair
@notice Looks a little like a V2 pair and misbehaves in every way the book lens
        must survive: a gas bomb, a dirty address word, a short answer, a revert.
"""

sink: public(uint256)


@external
@view
def token0() -> address:
    # a gas bomb: burns whatever gas it is given
    acc: uint256 = 0
    for i: uint256 in range(10**9):
        acc = convert(keccak256(concat(convert(acc, bytes32), convert(i, bytes32))), uint256)
    return convert(convert(acc % 2**160, uint160), address)


@external
@view
def token1() -> uint256:
    # an "address" with dirty high bits
    return 2**200 + 1


@external
@view
def getReserves() -> uint112:
    # one word where a pair answers three
    return 1


@external
@view
def totalSupply() -> uint256:
    raise "no supply here"
