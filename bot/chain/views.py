"""One view call of a contract, decoded: for a person's commands (the vault owner's, `init`), not
the keeper's hot path, which reads everything at once through the lens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.core.address_book import checksum
from bot.core.errors import BadInput


async def view(
    w3: AsyncWeb3[Any],
    to: str,
    signature: str,
    out: Sequence[str],
    args: tuple[Sequence[str], Sequence[Any]] = ((), ()),
    what: str = "the contract expected there",
) -> tuple[Any, ...]:
    """`signature` called on `to` at the head, its answer decoded as `out`.

    Raises:
        BadInput: it reverts, there is no code, or the answer is not of those types (`to` is not
            `what`).
        RpcError: the node failed.
    """
    data = keccak(text=signature)[:4] + (encode(list(args[0]), list(args[1])) if args[0] else b"")
    answer = await rpc.request(w3, "eth_call", [{"to": checksum(to), "data": "0x" + data.hex()}, "latest"])
    raw = answer.get("result")
    if "error" in answer or raw in (None, "0x"):
        raise BadInput(f"{to} does not answer {signature}: it is not {what}")
    try:
        return tuple(decode(list(out), bytes.fromhex(str(raw)[2:])))
    except (TypeError, ValueError, DecodingError):
        raise BadInput(f"{to} answers {signature} with {str(raw)[:20]!r}: it is not {what}") from None
