"""Ops of the executor vault and their packed encoding (contracts/Executor.vy). Pure.

Each op is `op (1 byte) | pair (20 bytes) | fields of 16 bytes`, big-endian, one after
another. An amount of `WHOLE_BALANCE` (0) means "the vault's whole balance" of that token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from bot.core.address_book import checksum
from bot.core.errors import BadInput

EXECUTE_SELECTOR = keccak(text="execute(bytes,uint256,bytes32)")[:4]
SIMULATE_SELECTOR = keccak(text="simulate(bytes,uint256,address[])")[:4]
POKE_SELECTOR = keccak(text="poke(address[])")[:4]
WHOLE_BALANCE = 0
MAX_FIELD = 2**128 - 1
# an amount field with this bit set spends what earlier ops of the bundle produced of that token
# and no op has spent yet, plus its low bits, or less them with SHORT set (Executor.CARRY, SHORT)
CARRY = 2**127
SHORT = 2**126
AMOUNT_MASK = SHORT - 1
MAX_OPS_BYTES = 4096  # Executor.MAX_OPS_BYTES
PADDING = bytes(31)  # Executor.PADDING: zeros after the last op, so every field is one 32-byte load

OP_BURN = 1
OP_SWAP0 = 2
OP_SWAP1 = 3
OP_MINT = 4
OP_ZAP0 = 5
OP_ZAP1 = 6
OP_FLOOR = 7


@dataclass(frozen=True, slots=True)
class Burn:
    """Send `liquidity` LP (0: all) to the pair and burn it to the vault."""

    pair: str
    liquidity: int
    min_amount0: int
    min_amount1: int


@dataclass(frozen=True, slots=True)
class Swap:
    """Swap `amount_in` (0: all) of token0 (`zero_for_one`) or token1; the output is computed on-chain."""

    pair: str
    zero_for_one: bool
    amount_in: int
    min_out: int


@dataclass(frozen=True, slots=True)
class Mint:
    """Send both amounts to the pair and mint; a 0 side means the whole balance, matched to the ratio."""

    pair: str
    amount0: int
    amount1: int
    min_liquidity: int


@dataclass(frozen=True, slots=True)
class Zap:
    """Single-sided deposit of `amount_in` (0: all) of token0 (`from0`) or token1, zapped on-chain."""

    pair: str
    from0: bool
    amount_in: int
    min_liquidity: int


@dataclass(frozen=True, slots=True)
class Floor:
    """After the ops before it, the vault must hold at least `minimum` of `token` (a token or an LP):
    the bundle's loss bound, checked on-chain."""

    token: str
    minimum: int


Op = Burn | Swap | Mint | Zap | Floor
Trade = Burn | Swap | Mint | Zap


def carried(planned: int, carry: int) -> int:
    """An amount field that spends the bundle's carry of its token, set so that it spends exactly
    `planned` when the carry is the predicted `carry`."""
    delta = planned - carry
    if not abs(delta) <= AMOUNT_MASK:
        raise BadInput(f"amount {planned} does not fit 126 bits")
    return CARRY | delta if delta >= 0 else CARRY | SHORT | -delta


def field_amount(field: int, carry: int) -> int:
    """What a field spends with `carry` of its token carried (the vault's rule: a carried amount is
    at least 1, never 0, which means the whole balance)."""
    if not field & CARRY:
        return field
    low = field & AMOUNT_MASK
    return max(1, carry - low if field & SHORT else carry + low)


def trades(ops: Sequence[Op]) -> list[Trade]:
    """The ops that move tokens (not the floors), in order."""
    return [op for op in ops if not isinstance(op, Floor)]


def _field(value: int, name: str) -> bytes:
    if not 0 <= value <= MAX_FIELD:
        raise BadInput(f"{name} {value} does not fit 16 bytes")
    return value.to_bytes(16, "big")


def _head(code: int, pair: str) -> bytes:
    return bytes([code]) + bytes.fromhex(checksum(pair)[2:])


def encode_op(op: Op) -> bytes:
    """The packed bytes of one op."""
    fields: tuple[tuple[str, int], ...]
    match op:
        case Burn():
            fields = (
                ("liquidity", op.liquidity),
                ("min_amount0", op.min_amount0),
                ("min_amount1", op.min_amount1),
            )
            head = _head(OP_BURN, op.pair)
        case Swap():
            fields = (("amount_in", op.amount_in), ("min_out", op.min_out))
            head = _head(OP_SWAP0 if op.zero_for_one else OP_SWAP1, op.pair)
        case Mint():
            fields = (("amount0", op.amount0), ("amount1", op.amount1), ("min_liquidity", op.min_liquidity))
            head = _head(OP_MINT, op.pair)
        case Zap():
            fields = (("amount_in", op.amount_in), ("min_liquidity", op.min_liquidity))
            head = _head(OP_ZAP0 if op.from0 else OP_ZAP1, op.pair)
        case Floor():
            fields = (("minimum", op.minimum),)
            head = _head(OP_FLOOR, op.token)
    return head + b"".join(_field(value, name) for name, value in fields)


def encode_ops(ops: Sequence[Op]) -> bytes:
    """The packed bytes of a bundle, as `execute` takes them."""
    if not ops:
        raise BadInput("a bundle needs at least one op")
    packed = b"".join(encode_op(op) for op in ops) + PADDING
    if len(packed) > MAX_OPS_BYTES:
        raise BadInput(f"bundle of {len(ops)} ops is {len(packed)} bytes, over {MAX_OPS_BYTES}")
    return packed


def decode_ops(packed: bytes) -> list[Op]:
    """The inverse of `encode_ops` (for the journal and for tests)."""
    if not packed.endswith(PADDING):
        raise BadInput("packed ops do not end with their zero padding")
    packed = packed[: -len(PADDING)]
    ops: list[Op] = []
    at = 0

    def field(i: int) -> int:
        return int.from_bytes(packed[at + 21 + 16 * i : at + 37 + 16 * i], "big")

    while at < len(packed):
        code, pair = packed[at], checksum("0x" + packed[at + 1 : at + 21].hex())
        if code == OP_BURN:
            ops.append(Burn(pair, field(0), field(1), field(2)))
            at += 69
        elif code in (OP_SWAP0, OP_SWAP1):
            ops.append(Swap(pair, code == OP_SWAP0, field(0), field(1)))
            at += 53
        elif code == OP_MINT:
            ops.append(Mint(pair, field(0), field(1), field(2)))
            at += 69
        elif code in (OP_ZAP0, OP_ZAP1):
            ops.append(Zap(pair, code == OP_ZAP0, field(0), field(1)))
            at += 53
        elif code == OP_FLOOR:
            ops.append(Floor(pair, field(0)))
            at += 37
        else:
            raise BadInput(f"unknown op code {code} at byte {at}")
    if at != len(packed):
        raise BadInput("packed ops end in the middle of an op")
    return ops


def execute_calldata(ops: Sequence[Op], deadline: int, bundle_id: bytes) -> bytes:
    """Calldata of `execute(ops, deadline, bundle_id)`."""
    if len(bundle_id) != 32:
        raise BadInput(f"bundle id must be 32 bytes, got {len(bundle_id)}")
    return EXECUTE_SELECTOR + encode(["bytes", "uint256", "bytes32"], [encode_ops(ops), deadline, bundle_id])


def simulate_calldata(ops: Sequence[Op], deadline: int, tokens: Sequence[str]) -> bytes:
    """Calldata of `simulate(ops, deadline, tokens)`."""
    return SIMULATE_SELECTOR + encode(
        ["bytes", "uint256", "address[]"], [encode_ops(ops), deadline, [checksum(t) for t in tokens]]
    )


def poke_calldata(pairs: Sequence[str]) -> bytes:
    """`poke(pairs)`: anyone may record the pairs' prices in the vault (its TWAP guard's observations)."""
    return POKE_SELECTOR + encode(["address[]"], [[checksum(p) for p in pairs]])


def decode_execute(calldata: bytes) -> tuple[list[Op], int, bytes]:
    """(ops, deadline, bundle id) from calldata of `execute` (the inverse of `execute_calldata`)."""
    if calldata[:4] != EXECUTE_SELECTOR:
        raise BadInput("calldata is not a call of execute(bytes,uint256,bytes32)")
    packed, deadline, bundle_id = decode(["bytes", "uint256", "bytes32"], calldata[4:])
    return decode_ops(packed), int(deadline), bytes(bundle_id)
