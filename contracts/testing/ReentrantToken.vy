#pragma version ~=0.4.3
"""
@title ReentrantToken
@notice An ERC20 whose transfer() calls back into a target with a stored payload
        (once per arming) and records how that call ended. For vault tests only.
"""
from ethereum.ercs import IERC20

implements: IERC20

name: public(String[8])
symbol: public(String[8])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

target: public(address)
payload: public(Bytes[1024])
armed: public(bool)
tried: public(bool)
reentry_ok: public(bool)


@deploy
def __init__(supply: uint256):
    self.name = "Evil"
    self.symbol = "EVIL"
    self.decimals = 18
    self.totalSupply = supply
    self.balanceOf[msg.sender] = supply


@external
def arm(target: address, payload: Bytes[1024]):
    self.target = target
    self.payload = payload
    self.armed = True


@external
def attack(target: address, payload: Bytes[1024]):
    """Call `target` as this contract (when the vault made it its keeper)."""
    raw_call(target, payload)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=sender, receiver=receiver, value=amount)
    if self.armed:
        self.armed = False
        ok: bool = raw_call(self.target, self.payload, revert_on_failure=False)
        self.tried = True
        self.reentry_ok = ok


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self.allowance[sender][msg.sender] -= amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log IERC20.Approval(owner=msg.sender, spender=spender, value=amount)
    return True
