"""Calldata of the vault owner's calls and of the ERC-20 calls around them. Pure."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from bot.core.address_book import checksum


def _call(signature: str, types: list[str], values: list[object]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def set_keeper(keeper: str) -> bytes:
    return _call("set_keeper(address)", ["address"], [checksum(keeper)])


def allow_pair(pair: str, fee_bps: int, fot0: bool = False, fot1: bool = False) -> bytes:
    return _call("allow_pair(address,uint256,bool,bool)", ["address", "uint256", "bool", "bool"],
                 [checksum(pair), fee_bps, fot0, fot1])  # fmt: skip


def remove_pair(pair: str) -> bytes:
    return _call("remove_pair(address)", ["address"], [checksum(pair)])


def pause() -> bytes:
    return keccak(text="pause()")[:4]


def unpause() -> bytes:
    return keccak(text="unpause()")[:4]


def set_guards(max_deviation_bps: int, window_s: int, cooldown_s: int, per_day: int) -> bytes:
    return _call("set_guards(uint256,uint256,uint256,uint256)", ["uint256"] * 4,
                 [max_deviation_bps, window_s, cooldown_s, per_day])  # fmt: skip


def deposit(token: str, amount: int) -> bytes:
    return _call("deposit(address,uint256)", ["address", "uint256"], [checksum(token), amount])


def withdraw(token: str, amount: int) -> bytes:
    """`amount` 0: everything the vault holds of `token`."""
    return _call("withdraw(address,uint256)", ["address", "uint256"], [checksum(token), amount])


def propose_owner(owner: str) -> bytes:
    return _call("propose_owner(address)", ["address"], [checksum(owner)])


def accept_ownership() -> bytes:
    return keccak(text="accept_ownership()")[:4]


def approve(spender: str, amount: int) -> bytes:
    return _call("approve(address,uint256)", ["address", "uint256"], [checksum(spender), amount])


def deploy(bytecode: bytes, keeper: str) -> bytes:
    """The executor's creation code with its constructor argument (the keeper)."""
    return bytecode + encode(["address"], [checksum(keeper)])
