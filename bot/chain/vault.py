"""Talking to the executor vault: calldata for `execute`, simulation by eth_call, gas estimates.

`simulate` runs the bundle exactly as `execute` would (same checks, as the keeper) inside
an eth_call and returns the vault's balances afterwards, so a plan's prediction can be
compared with what the chain would do before anything is signed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.core.address_book import checksum
from bot.core.errors import BadInput, KeeperError, RpcError
from bot.core.executor_ops import Op, execute_calldata, simulate_calldata
from bot.core.vault_guards import VaultGuards

ERROR_SELECTOR = keccak(text="Error(string)")[:4]


class BundleReverted(KeeperError):
    """The bundle reverts; `reason` is the contract's revert string (empty when it gave none)."""

    def __init__(self, reason: str, where: str) -> None:
        super().__init__(f"bundle reverts on {where}: {reason or '(no reason)'}")
        self.reason = reason


def revert_reason(error: Any) -> str | None:
    """The revert string in a JSON-RPC error, "" for a bare revert, None if it was no revert."""
    if not isinstance(error, dict):
        return None
    raw = rpc.error_data(error)
    if raw is not None:
        if raw[:4] == ERROR_SELECTOR:
            (reason,) = decode(["string"], raw[4:])
            return str(reason)
        return "" if not raw else f"custom error 0x{raw[:4].hex()}"
    message = str(error.get("message", ""))
    return "" if "revert" in message else None


async def _call(w3: AsyncWeb3[Any], method: str, params: list[Any], where: str) -> Any:
    answer = await rpc.request(w3, method, params)
    if "error" in answer:
        reason = revert_reason(answer["error"])
        if reason is not None:
            raise BundleReverted(reason, where)
        raise RpcError(f"{method} of the bundle failed on {where}: {answer['error'].get('message')}")
    return answer["result"]


async def simulate(
    w3: AsyncWeb3[Any],
    vault: str,
    keeper: str,
    ops: Sequence[Op],
    deadline: int,
    tokens: Sequence[str],
    block: int | str = "latest",
) -> dict[str, int]:
    """The vault's balance of each of `tokens` after the bundle, by eth_call as the keeper.

    Raises:
        BundleReverted: the bundle would revert (with the contract's reason).
    """
    where = f"{rpc.provider_label(w3)} at block {block}"
    call = {
        "from": checksum(keeper),
        "to": checksum(vault),
        "data": "0x" + simulate_calldata(ops, deadline, tokens).hex(),
    }
    tag = hex(block) if isinstance(block, int) else block
    raw = await _call(w3, "eth_call", [call, tag], where)
    try:
        (balances,) = decode(["uint256[]"], bytes.fromhex(raw[2:]))
        return {checksum(t): int(b) for t, b in zip(tokens, balances, strict=True)}
    except (TypeError, ValueError, DecodingError):
        raise RpcError(f"{where} answered simulate() with {str(raw)[:20]!r}: not the balances") from None


async def estimate_gas(
    w3: AsyncWeb3[Any], vault: str, keeper: str, ops: Sequence[Op], deadline: int, bundle_id: bytes
) -> int:
    """Gas for `execute` of the bundle, as the node estimates it (the caller adds its margin)."""
    call = {
        "from": checksum(keeper),
        "to": checksum(vault),
        "data": "0x" + execute_calldata(ops, deadline, bundle_id).hex(),
    }
    where = rpc.provider_label(w3)
    answer = await _call(w3, "eth_estimateGas", [call], where)
    try:
        gas = int(answer, 16)
    except (TypeError, ValueError):
        gas = 0
    if gas <= 0:
        raise RpcError(f"{where} answered eth_estimateGas with {str(answer)[:20]!r}")
    return gas


KEEPER_SELECTOR = "0x" + keccak(text="keeper()")[:4].hex()


async def vault_keeper(w3: AsyncWeb3[Any], vault: str) -> str:
    """The keeper address of an executor vault.

    Raises:
        BadInput: `vault` has no code or reverts on keeper(): it is not an ammkeeper executor.
        RpcError: the node failed, or answered something that is not an address (transient).
    """
    vault = checksum(vault)
    answer = await rpc.request(w3, "eth_call", [{"to": vault, "data": KEEPER_SELECTOR}, "latest"])
    raw = answer.get("result")
    if "error" in answer or raw == "0x":  # it reverts, or there is no code there
        raise BadInput(f"vault {vault} does not answer keeper(): it is not an ammkeeper executor")
    try:
        (keeper,) = decode(["address"], bytes.fromhex(str(raw).removeprefix("0x")))
    except (TypeError, ValueError, DecodingError):
        shown = str(raw)[:20]
        raise RpcError(f"{rpc.provider_label(w3)} answered keeper() of {vault} with {shown!r}") from None
    return checksum(keeper)


PAUSE_CALLDATA = keccak(text="pause()")[:4]
PAUSED_SELECTOR = "0x" + keccak(text="paused()")[:4].hex()


async def vault_paused(w3: AsyncWeb3[Any], vault: str) -> bool:
    """Whether the vault is paused on-chain (only its owner can unpause it)."""
    raw = await rpc.result(w3, "eth_call", [{"to": checksum(vault), "data": PAUSED_SELECTOR}, "latest"])
    try:
        return int(str(raw), 16) != 0
    except ValueError:
        raise RpcError(
            f"{rpc.provider_label(w3)} answered paused() of {vault} with {str(raw)[:20]!r}"
        ) from None


async def estimate_pause(w3: AsyncWeb3[Any], vault: str, sender: str) -> int:
    """Gas for `pause()` sent by `sender` (the keeper or the owner)."""
    return await estimate_call(w3, vault, sender, PAUSE_CALLDATA)


GUARD_STATE_TYPES = ["uint256", "uint256", "uint256", "uint256[]"]


async def read_guards(
    w3: AsyncWeb3[Any], vault: str, pairs: Sequence[str], block: int | str = "latest"
) -> VaultGuards:
    """The vault's guards and its observations of `pairs` at `block`, in one eth_call.

    Raises:
        RpcError: the node failed, or answered something that is not the guards' state.
    """
    data = keccak(text="guard_state(address[])")[:4] + encode(["address[]"], [[checksum(p) for p in pairs]])
    tag = hex(block) if isinstance(block, int) else block
    where = rpc.provider_label(w3)
    raw = await rpc.result(w3, "eth_call", [{"to": checksum(vault), "data": "0x" + data.hex()}, tag])
    try:
        word, last, day, words = decode(GUARD_STATE_TYPES, bytes.fromhex(str(raw).removeprefix("0x")))
        if len(words) != 2 * len(pairs):
            raise ValueError("not two words a pair")
    except (TypeError, ValueError, DecodingError):
        raise RpcError(f"{where} answered guard_state() of {vault} with {str(raw)[:20]!r}") from None
    return VaultGuards.decode(word, last, day, [checksum(p) for p in pairs], list(words))


async def estimate_call(w3: AsyncWeb3[Any], vault: str, sender: str, data: bytes) -> int:
    """Gas for a call of the vault from `sender` (a pause, a poke), as the node estimates it.

    Raises:
        BundleReverted: the call would revert (with the contract's reason).
    """
    call = {"from": checksum(sender), "to": checksum(vault), "data": "0x" + data.hex()}
    where = rpc.provider_label(w3)
    answer = await _call(w3, "eth_estimateGas", [call], where)
    try:
        return int(answer, 16)
    except (TypeError, ValueError):
        raise RpcError(f"{where} answered eth_estimateGas with {str(answer)[:20]!r}") from None


PAIR_CONFIG_SELECTOR = keccak(text="pair_config(address)")[:4]


async def pair_fees(w3: AsyncWeb3[Any], vault: str, pairs: Sequence[str]) -> dict[str, int | None]:
    """The swap fee the vault holds for each pair (None: the pair is not on its allowlist).

    Raises:
        RpcError: the node failed, or answered something that is not a pair's config.
    """

    async def one(pair: str) -> int | None:
        data = "0x" + (PAIR_CONFIG_SELECTOR + encode(["address"], [checksum(pair)])).hex()
        raw = await rpc.result(w3, "eth_call", [{"to": checksum(vault), "data": data}, "latest"])
        try:
            _, _, fee, flags = decode(
                ["address", "address", "uint256", "uint256"], bytes.fromhex(str(raw)[2:])
            )
        except (TypeError, ValueError, DecodingError):
            raise RpcError(
                f"{rpc.provider_label(w3)} answered pair_config() of {vault} with {str(raw)[:20]!r}"
            ) from None
        return int(fee) if flags & 1 else None

    fees = await asyncio.gather(*(one(p) for p in pairs))
    return dict(zip((checksum(p) for p in pairs), fees, strict=True))
