"""The vault owner's transactions: signed by a key and sent one by one, or written for a multisig
owner as Safe Transaction Builder JSON (nothing sent).

Owner actions are rare and made by a person: each call is estimated (a call that would revert
is refused with the contract's reason before anything is signed), signed, broadcast with its
hash printed at once, and waited for with a line per confirmation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.vault import revert_reason
from bot.core.address_book import checksum
from bot.core.book import FeePolicy
from bot.core.errors import BadInput, KeeperError
from bot.core.fees import Fees
from bot.tx.transactions import broadcast, current_fees, head, native_balance, nonce_of, receipt, sign


@dataclass(frozen=True, slots=True)
class Call:
    """One owner call: `to` None creates a contract; `what` says it in words."""

    to: str | None
    data: bytes
    what: str
    value: int = 0


class Owner(Protocol):
    """Whoever carries out the owner's calls."""

    @property
    def address(self) -> str: ...

    async def send(self, call: Call) -> str | None:
        """Carry the call out; the created contract's address for a creation."""
        ...


@dataclass
class KeyOwner:
    """Sends each call from a key, waiting for `confirmations` before the next."""

    w3: AsyncWeb3[Any]
    account: LocalAccount
    chain_id: int
    fees: FeePolicy = field(default_factory=FeePolicy)
    out: Callable[[str], None] = print
    poll_s: float = 0.5
    timeout_s: float = 600.0

    @property
    def address(self) -> str:
        return str(self.account.address)

    async def send(self, call: Call) -> str | None:
        tx: dict[str, Any] = {"from": self.address, "data": "0x" + call.data.hex(), "value": hex(call.value)}
        if call.to is not None:
            tx["to"] = checksum(call.to)
        answer = await rpc.request(self.w3, "eth_estimateGas", [tx])
        if "error" in answer:
            reason = revert_reason(answer["error"])
            if reason is not None:
                raise BadInput(f"{call.what}: refused by the chain: {reason or '(no reason)'}; not sent")
            raise KeeperError(f"{call.what}: eth_estimateGas failed: {answer['error'].get('message')}")
        gas_limit = int(answer["result"], 16) * (10_000 + self.fees.gas_margin_bps) // 10_000
        fees = await current_fees(self.w3, self.fees)
        most = gas_limit * fees.max_fee + call.value
        held = await native_balance(self.w3, self.address)
        if held < most:
            raise BadInput(
                f"{call.what}: {self.address} holds {held / 1e18:.6f} native; it may cost up to "
                f"{most / 1e18:.6f}: not sent"
            )
        nonce = await nonce_of(self.w3, self.address, "pending")
        raw, tx_hash = self._sign(call, nonce, gas_limit, fees)
        await broadcast(self.w3, raw, tx_hash)
        gas_most = gas_limit * fees.max_fee / 1e18
        self.out(f"{call.what}: sent {tx_hash} (nonce {nonce}, gas at most {gas_most:.6f} native)")
        return await self._confirmed(call, tx_hash)

    def _sign(self, call: Call, nonce: int, gas_limit: int, fees: Fees) -> tuple[str, str]:
        """(raw transaction, hash) as hex."""
        signed = sign(
            self.account, chain_id=self.chain_id, to=call.to, data=call.data, nonce=nonce,
            gas_limit=gas_limit, fees=fees, value=call.value,
        )  # fmt: skip
        return signed.raw, signed.tx_hash

    async def _confirmed(self, call: Call, tx_hash: str) -> str | None:
        deadline = time.monotonic() + self.timeout_s
        seen = 0
        while True:
            found = await receipt(self.w3, tx_hash)
            if found is not None:
                depth = await head(self.w3) - found.block + 1
                if depth > seen:
                    seen = depth
                    self.out(f"  mined in block {found.block}: {min(depth, self.fees.confirmations)}/"
                             f"{self.fees.confirmations} confirmations")  # fmt: skip
                if not found.success:
                    raise KeeperError(f"{call.what}: reverted in {tx_hash}")
                if depth >= self.fees.confirmations:
                    return await self._created(tx_hash) if call.to is None else None
            if time.monotonic() >= deadline:
                raise KeeperError(f"{call.what}: {tx_hash} not confirmed after {self.timeout_s:g} s")
            await asyncio.sleep(self.poll_s)

    async def _created(self, tx_hash: str) -> str:
        raw = await rpc.result(self.w3, "eth_getTransactionReceipt", [tx_hash])
        address = raw.get("contractAddress") if isinstance(raw, dict) else None
        if not address:
            raise KeeperError(f"{tx_hash} created no contract")
        return checksum(str(address))


@dataclass
class ApeOwner(KeyOwner):
    """An ape account signs (`--account ALIAS` with ape installed): a keyfile account asks its
    passphrase as ape does, a hardware-wallet plugin's account signs on the device."""

    ape_account: Any = None

    @property
    def address(self) -> str:
        return checksum(str(self.ape_account.address))

    def _sign(self, call: Call, nonce: int, gas_limit: int, fees: Fees) -> tuple[str, str]:
        from ape import networks

        fields: dict[str, Any] = {
            "chainId": self.chain_id, "nonce": nonce, "data": call.data, "value": call.value,
            "gas": gas_limit, "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.tip, "type": 2,
        }  # fmt: skip
        if call.to is not None:
            fields["to"] = checksum(call.to)
        txn = networks.ethereum.create_transaction(**fields)
        signed = self.ape_account.sign_transaction(txn)
        if signed is None:
            raise BadInput(f"{call.what}: not signed by {self.address}: not sent")
        return "0x" + bytes(signed.serialize_transaction()).hex(), "0x" + bytes(signed.txn_hash).hex()


@dataclass
class SafeOwner:
    """Collects the calls of a Safe (multisig) owner into Safe Transaction Builder JSON."""

    address: str
    chain_id: int
    calls: list[Call] = field(default_factory=list)

    async def send(self, call: Call) -> str | None:
        if call.to is None:
            raise BadInput("a Safe cannot create the vault through the Transaction Builder: deploy it from a "
                           "key, then `vault propose-owner` the Safe and accept in the Safe")  # fmt: skip
        self.calls.append(call)
        return None

    def write(self, path: Path, name: str) -> None:
        """The batch as the Transaction Builder imports it (one file, every call in order)."""
        try:
            with path.open("x") as out:
                self.write_to(out, name)
        except FileExistsError:
            raise BadInput(f"{path} exists: a batch is never written over") from None
        except OSError as exc:
            raise BadInput(f"{path} cannot be written: {exc.strerror}") from None

    def write_to(self, out: TextIO, name: str) -> None:
        """The batch as the Transaction Builder imports it, to `out`."""
        batch = {
            "version": "1.0",
            "chainId": str(self.chain_id),
            "createdAt": int(time.time() * 1000),
            "meta": {
                "name": name,
                "description": "; ".join(c.what for c in self.calls),
                "txBuilderVersion": "1.16.5",
                "createdFromSafeAddress": self.address,
                "createdFromOwnerAddress": "",
            },
            "transactions": [
                {
                    "to": c.to,
                    "value": str(c.value),
                    "data": "0x" + c.data.hex(),
                    "contractMethod": None,
                    "contractInputsValues": None,
                }
                for c in self.calls
            ],
        }
        out.write(json.dumps(batch, indent=2) + "\n")
