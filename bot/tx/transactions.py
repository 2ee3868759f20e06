"""Signing, sending and following the keeper's transactions (IO).

A transaction is signed locally (type 2, EIP-1559), its raw bytes are journaled by the caller,
then broadcast. A node that answers it already has the transaction ("already known", "transaction
already imported", ...) counts it as sent; "nonce too low" counts as sent only if our own
transaction is the one that used the nonce (`send_refusal` reads the clients' wordings).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.headers import header_at
from bot.core.address_book import checksum
from bot.core.book import FeePolicy
from bot.core.errors import KeeperError, RpcError
from bot.core.fees import FEE_HISTORY_BLOCKS, Fees, capped, fees_from_history
from bot.core.outcome import Receipt

# how clients say they hold the transaction already, or that its nonce is used (whole words, any
# case): geth/infura, anvil/reth, openethereum, erigon, nethermind. Not "unknown transaction type".
KNOWN = re.compile(
    r"\b(already known|already imported|known transaction|existing tx with same hash|alreadyknown)\b",
    re.IGNORECASE,
)
NONCE_USED = re.compile(r"\b(nonce too low|nonce is too low|oldnonce)\b", re.IGNORECASE)


class GasTooExpensive(KeeperError):
    """The next base fee plus the tip is above the book's maximum fee."""


class SendFailed(KeeperError):
    """The node refused the transaction."""


@dataclass(frozen=True, slots=True)
class Signed:
    raw: str  # 0x-hex
    tx_hash: str
    nonce: int
    gas_limit: int
    fees: Fees


async def market_fees(w3: AsyncWeb3[Any], policy: FeePolicy) -> Fees:
    """What the market asks now, from eth_feeHistory (uncapped)."""
    history = await rpc.result(
        w3, "eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [policy.tip_percentile]]
    )
    if not isinstance(history, Mapping):
        raise RpcError("eth_feeHistory answered something that is not an object")
    return fees_from_history(history, policy.min_tip_wei, policy.headroom)


async def current_fees(w3: AsyncWeb3[Any], policy: FeePolicy) -> Fees:
    """EIP-1559 fees from eth_feeHistory, held to the book's maximum.

    Raises:
        GasTooExpensive: the next block's base fee plus the tip exceeds `policy.max_fee_wei`.
    """
    fees = await market_fees(w3, policy)
    held = capped(fees, policy.max_fee_wei)
    if held is None:
        cap = policy.max_fee_wei or 0
        raise GasTooExpensive(
            f"gas too expensive: next base fee {fees.next_base_fee / 1e9:.3f} gwei + tip "
            f"{fees.tip / 1e9:.3f} gwei is above the book's max_fee_gwei {cap / 1e9:g}"
        )
    return held


def sign(
    account: LocalAccount,
    *,
    chain_id: int,
    to: str | None,
    data: bytes,
    nonce: int,
    gas_limit: int,
    fees: Fees,
    value: int = 0,
) -> Signed:
    """A signed type-2 call of `to` with `data` (`to` None: a contract creation)."""
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        **({} if to is None else {"to": checksum(to)}),
        "value": value,
        "data": "0x" + data.hex(),
        "gas": gas_limit,
        "maxFeePerGas": fees.max_fee,
        "maxPriorityFeePerGas": fees.tip,
    }
    signed = account.sign_transaction(tx)
    return Signed(
        "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex(), nonce, gas_limit, fees
    )


def send_refusal(message: str) -> str:
    """What an eth_sendRawTransaction error says: "known" (the node holds the transaction),
    "nonce used" (by this transaction or another), or "refused" (anything else)."""
    if KNOWN.search(message):
        return "known"
    if NONCE_USED.search(message):
        return "nonce used"
    return "refused"


async def broadcast(w3: AsyncWeb3[Any], raw: str, tx_hash: str) -> None:
    """eth_sendRawTransaction; a node that already has it counts as sent.

    Raises:
        SendFailed: the node refused it (the message says why); "nonce too low" only when the
            nonce went to another transaction.
    """
    answer = await rpc.request(w3, "eth_sendRawTransaction", [raw])
    if "error" not in answer:
        return
    error = answer["error"]
    message = str(error.get("message", error) if isinstance(error, dict) else error)
    refusal = send_refusal(message)
    if refusal == "known":
        return
    if refusal == "nonce used" and await receipt(w3, tx_hash) is not None:
        return
    raise SendFailed(f"{rpc.provider_label(w3)} refused transaction {tx_hash}: {message}")


async def receipt(w3: AsyncWeb3[Any], tx_hash: str) -> Receipt | None:
    """The receipt of `tx_hash`, or None while it is not mined."""
    raw = await rpc.result(w3, "eth_getTransactionReceipt", [tx_hash])
    if raw is None:
        return None
    try:
        return Receipt(
            tx_hash=str(raw["transactionHash"]),
            block=int(raw["blockNumber"], 16),
            block_hash=str(raw["blockHash"]),
            success=int(raw["status"], 16) == 1,
            gas_used=int(raw["gasUsed"], 16),
            effective_gas_price=int(raw["effectiveGasPrice"], 16),
        )
    except (KeyError, TypeError, ValueError):
        raise RpcError(f"{rpc.provider_label(w3)} answered a malformed receipt for {tx_hash}") from None


async def receipt_logs(w3: AsyncWeb3[Any], tx_hash: str) -> list[dict[str, Any]]:
    raw = await rpc.result(w3, "eth_getTransactionReceipt", [tx_hash])
    logs = raw.get("logs") if isinstance(raw, dict) else None
    if not isinstance(logs, list):
        raise RpcError(f"{rpc.provider_label(w3)} answered no logs for {tx_hash}")
    return logs


def _hex(value: Any, what: str, w3: AsyncWeb3[Any]) -> int:
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        raise RpcError(f"{rpc.provider_label(w3)} answered {what} {value!r}, not a hex quantity") from None


async def head(w3: AsyncWeb3[Any]) -> int:
    return _hex(await rpc.result(w3, "eth_blockNumber", []), "eth_blockNumber", w3)


async def wait_for_receipt(
    w3: AsyncWeb3[Any],
    tx_hash: str,
    confirmations: int = 1,
    timeout_s: float = 300.0,
    poll_s: float = 0.5,
    on_poll: Callable[[int | None, int, float], None] | None = None,
) -> Receipt:
    """The receipt once `confirmations` blocks include it (1: its own block).

    Args:
        on_poll: told at every poll (its block or None while pending, its depth, seconds waited).

    Raises:
        KeeperError: not mined (or not deep enough) within `timeout_s`.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        found = await receipt(w3, tx_hash)
        depth = await head(w3) - found.block + 1 if found is not None else 0
        if on_poll is not None:
            on_poll(found.block if found else None, depth, time.monotonic() - started)
        if found is not None and depth >= confirmations:
            return found
        if time.monotonic() >= deadline:
            state = "mined but not yet confirmed" if found else "not mined"
            raise KeeperError(f"transaction {tx_hash} {state} after {timeout_s:g} s; it stays in the journal")
        await asyncio.sleep(poll_s)


async def nonce_of(w3: AsyncWeb3[Any], address: str, tag: str) -> int:
    return _hex(await rpc.result(w3, "eth_getTransactionCount", [checksum(address), tag]), "a nonce", w3)


async def is_known(w3: AsyncWeb3[Any], tx_hash: str) -> bool:
    """Whether the node knows the transaction (pending or mined)."""
    return await rpc.result(w3, "eth_getTransactionByHash", [tx_hash]) is not None


async def native_balance(w3: AsyncWeb3[Any], address: str) -> int:
    return _hex(await rpc.result(w3, "eth_getBalance", [checksum(address), "latest"]), "a balance", w3)


async def block_hash(w3: AsyncWeb3[Any], number: int) -> str:
    return (await header_at(w3, number)).hash
