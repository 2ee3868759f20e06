"""Reading ERC-20 tokens (and V2 pairs, which are ERC-20 LP tokens) one call at a time.

For a person's commands (the vault owner's), not the keeper's hot path, which reads everything
at once through the lens.
"""

from __future__ import annotations

from typing import Any

from web3 import AsyncWeb3

from bot.chain.views import view
from bot.core.address_book import checksum
from bot.core.errors import BadInput


async def _view(
    w3: AsyncWeb3[Any], to: str, signature: str, types: list[str], args: list[object], out: str
) -> Any:
    (value,) = await view(w3, to, signature, [out], (types, args), what="an ERC-20 token")
    return value


async def balance_of(w3: AsyncWeb3[Any], token: str, holder: str) -> int:
    return int(await _view(w3, token, "balanceOf(address)", ["address"], [checksum(holder)], "uint256"))


async def decimals(w3: AsyncWeb3[Any], token: str) -> int:
    return int(await _view(w3, token, "decimals()", [], [], "uint8"))


async def symbol(w3: AsyncWeb3[Any], token: str) -> str:
    """The token's symbol (a bytes32 symbol, as MKR's, decoded too)."""
    try:
        return str(await _view(w3, token, "symbol()", [], [], "string"))
    except BadInput:
        raw = await _view(w3, token, "symbol()", [], [], "bytes32")
        return bytes(raw).rstrip(b"\0").decode(errors="replace")
