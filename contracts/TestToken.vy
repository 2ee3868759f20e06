#pragma version ~=0.4.3
"""
@title TestToken
@notice ERC20 for the local world: any decimals, and optionally a fee on
        transfer (burned) so fee-on-transfer behaviour can be tested against
        the real Uniswap V2 pair.
@dev The fee is an immutable: a plain token pays only a cheap branch on it.
"""
from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20
implements: IERC20Detailed

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

minter: public(address)
TRANSFER_FEE_BPS: public(immutable(uint256))

MAX_UINT: constant(uint256) = max_value(uint256)


@deploy
def __init__(name_: String[32], symbol_: String[16], decimals_: uint8, transfer_fee_bps: uint256):
    assert transfer_fee_bps < 10_000, "fee too high"
    self.name = name_
    self.symbol = symbol_
    self.decimals = decimals_
    self.minter = msg.sender
    TRANSFER_FEE_BPS = transfer_fee_bps


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero"
    self.balanceOf[sender] -= amount
    received: uint256 = amount
    if TRANSFER_FEE_BPS != 0:
        fee: uint256 = amount * TRANSFER_FEE_BPS // 10_000
        received = amount - fee
        self.totalSupply -= fee
        log IERC20.Transfer(sender=sender, receiver=empty(address), value=fee)
    self.balanceOf[receiver] += received
    log IERC20.Transfer(sender=sender, receiver=receiver, value=received)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != MAX_UINT:
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log IERC20.Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.minter, "only minter"
    assert receiver != empty(address), "mint to zero"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=empty(address), receiver=receiver, value=amount)
