"""Deploying and configuring an executor vault (owner actions), over a synchronous web3.

Admin actions are one-off and run by a person or a set-up script, so they use a plain
`Web3`; the keeper's hot path stays on AsyncWeb3. The sender must be able to send from
`owner` (an unlocked dev account, or a signing middleware installed on `w3`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from bot.chain.contracts import compiled
from bot.core.errors import KeeperError


@dataclass(frozen=True, slots=True)
class PairListing:
    """A pair to allowlist: its swap fee and which of its tokens take a fee on transfer."""

    pair: str
    fee_bps: int = 30
    fot0: bool = False
    fot1: bool = False


def _sent(w3: Web3, tx_hash: Any, what: str) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise KeeperError(f"{what} reverted in tx {tx_hash.hex()}")
    return receipt


def vault_contract(w3: Web3, address: str) -> Contract:
    """The executor at `address`."""
    return w3.eth.contract(address=w3.to_checksum_address(address), abi=compiled("Executor").abi)


def deploy_vault(w3: Web3, owner: str, keeper: str, listings: Iterable[PairListing] = ()) -> Contract:
    """Deploy an executor owned by `owner` with `keeper`, and allowlist `listings`."""
    art = compiled("Executor")
    tx = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(keeper).transact({"from": owner})
    vault = vault_contract(w3, _sent(w3, tx, "executor deployment")["contractAddress"])
    for listing in listings:
        allow_pair(w3, vault, owner, listing)
    return vault


def allow_pair(w3: Web3, vault: Contract, owner: str, listing: PairListing) -> None:
    """Allowlist one pair (owner only)."""
    fn = vault.functions.allow_pair(listing.pair, listing.fee_bps, listing.fot0, listing.fot1)
    _sent(w3, fn.transact({"from": owner}), f"allow_pair {listing.pair}")
