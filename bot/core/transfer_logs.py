"""The vault's deposits and withdrawals, from ERC-20 `Transfer` logs. Pure.

A token or LP transfer to the vault is a deposit, one from it a withdrawal, unless its
transaction is one of the vault's bundles (it has the vault's `Executed` event): those the
ledger takes from the journal, op by op. Airdrops and plain transfers in count as deposits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eth_utils.crypto import keccak

from bot.core.address_book import checksum
from bot.core.errors import RpcError
from bot.core.realized import TRANSFER

EXECUTED = "0x" + keccak(text="Executed(bytes32,uint256)").hex()


@dataclass(frozen=True, slots=True)
class VaultTransfer:
    """One token (or LP) movement into or out of the vault that no bundle made."""

    kind: Literal["deposit", "withdrawal"]
    asset: str
    amount: int
    block: int
    tx_hash: str
    log_index: int


def topic_of(address: str) -> str:
    """An address as an indexed event topic."""
    return "0x" + "00" * 12 + address.lower()[2:]


def queries(vault: str, assets: Iterable[str]) -> list[dict[str, Any]]:
    """The `eth_getLogs` filters: transfers of the assets to the vault, from it, and its bundles."""
    tokens = sorted(assets)
    me = topic_of(vault)
    return [
        {"address": tokens, "topics": [TRANSFER, None, me]},
        {"address": tokens, "topics": [TRANSFER, me]},
        {"address": vault, "topics": [EXECUTED]},
    ]


def vault_transfers(logs: Iterable[Mapping[str, Any]], vault: str) -> list[VaultTransfer]:
    """Deposits and withdrawals among `logs` (JSON-RPC form), by block and log index.

    Raises:
        RpcError: a log is not one (a node that answers something else).
    """
    try:
        return _vault_transfers(list(logs), checksum(vault))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise RpcError(f"eth_getLogs answered a log that is not one ({type(exc).__name__}: {exc})") from None


def _vault_transfers(logs: list[Mapping[str, Any]], vault: str) -> list[VaultTransfer]:
    bundles = {
        entry["transactionHash"]
        for entry in logs
        if entry["topics"] and entry["topics"][0] == EXECUTED and checksum(entry["address"]) == vault
    }
    found: dict[tuple[str, int], VaultTransfer] = {}
    for entry in logs:
        topics = entry["topics"]
        if len(topics) != 3 or topics[0] != TRANSFER or entry["transactionHash"] in bundles:
            continue
        sender, receiver = checksum("0x" + topics[1][-40:]), checksum("0x" + topics[2][-40:])
        if sender == receiver:
            continue
        kind: Literal["deposit", "withdrawal"] = "deposit" if receiver == vault else "withdrawal"
        key = (entry["transactionHash"], int(entry["logIndex"], 16))
        found[key] = VaultTransfer(
            kind, checksum(entry["address"]), int(entry["data"], 16), int(entry["blockNumber"], 16), *key
        )
    return sorted(found.values(), key=lambda t: (t.block, t.log_index))
