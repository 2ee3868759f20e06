"""Reads the whole book in one eth_call: the deployless BookLens, no contract deployed.

The call has no `to`: its data is the lens initcode plus constructor arguments, and the
answer comes back as revert data. Books larger than one call holds are split into
chunks; every chunk after the first is pinned to the first chunk's block, so the
result is one consistent block. A chunk the node runs out of gas on is halved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.contracts import compiled
from bot.chain.rpc_pool import DEFAULT_DEADLINE_S
from bot.core.address_book import checksum
from bot.core.book import Book
from bot.core.errors import BadInput, LensFailed, RpcError
from bot.core.snapshot import Snapshot, decode_book_read, merge_snapshots

log = logging.getLogger(__name__)

LENS_MAX_PAIRS = 256  # BookLens.MAX_PAIRS
LENS_MAX_EXTRA_TOKENS = 64  # BookLens.MAX_EXTRA_TOKENS
# under geth's 50M RPC gas cap and a 30M block gas limit; the lens needs ~0.85M fixed
# (Vyper sizes its memory for the largest book) plus ~47k per pair: 200 pairs ~ 10M
DEFAULT_CALL_GAS = 25_000_000
BlockTag = int | str


def lens_calldata(pairs: Sequence[str], extra_tokens: Sequence[str], holder: str) -> bytes:
    """Initcode of the lens with its constructor arguments: the whole eth_call data."""
    args = encode(["address[]", "address[]", "address"], [list(pairs), list(extra_tokens), holder])
    return compiled("BookLens").bytecode + args


def _block_param(block: BlockTag) -> str:
    if isinstance(block, int):
        if block < 0:
            raise BadInput(f"block {block} is negative")
        return hex(block)
    if block in ("latest", "safe", "finalized", "pending", "earliest"):
        return block
    raise BadInput(f"block {block!r} is neither a number nor a block tag")


OUT_OF_GAS_MARKERS = ("out of gas", "outofgas", "memoryoog", "gas required exceeds")


def _out_of_gas(error: Any) -> bool:
    """Whether a node's error means the call ran out of gas (anvil: OutOfGas, MemoryOOG; geth: out of gas)."""
    message = str(error.get("message", "")).lower() if isinstance(error, dict) else ""
    return any(marker in message for marker in OUT_OF_GAS_MARKERS)


class SnapshotReader:
    """Reads Snapshots of a book through one AsyncWeb3.

    Args:
        w3: the node to read.
        max_pairs_per_call: chunk size (at most the lens's 256).
        call_gas: gas given to each eth_call.
        deadline_s: deadline of each eth_call.
    """

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        *,
        max_pairs_per_call: int = LENS_MAX_PAIRS,
        call_gas: int = DEFAULT_CALL_GAS,
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        if not 1 <= max_pairs_per_call <= LENS_MAX_PAIRS:
            raise BadInput(f"max_pairs_per_call must be 1..{LENS_MAX_PAIRS}, got {max_pairs_per_call}")
        self.w3 = w3
        self.max_pairs_per_call = max_pairs_per_call
        self.call_gas = call_gas
        self.deadline_s = deadline_s
        self.calls = 0  # eth_calls made, for figures and tests

    async def read(
        self, pairs: Sequence[str], holder: str, extra_tokens: Sequence[str] = (), block: BlockTag = "latest"
    ) -> Snapshot:
        """The book at `block`: every pair, the tokens of those pairs plus `extra_tokens`.

        Raises:
            BadInput: an address or the block is malformed.
            RpcError: the node failed or timed out (names the endpoint and block).
            LensFailed: the node answered something that is not a snapshot.
        """
        pair_list = list(dict.fromkeys(checksum(p) for p in pairs))
        token_list = list(dict.fromkeys(checksum(t) for t in extra_tokens))
        holder = checksum(holder)
        tag = _block_param(block)
        pair_chunks = [
            pair_list[i : i + self.max_pairs_per_call]
            for i in range(0, len(pair_list), self.max_pairs_per_call)
        ] or [[]]
        token_chunks = [
            token_list[i : i + LENS_MAX_EXTRA_TOKENS]
            for i in range(0, len(token_list), LENS_MAX_EXTRA_TOKENS)
        ]
        chunks = [
            (pair_chunks[i] if i < len(pair_chunks) else [], token_chunks[i] if i < len(token_chunks) else [])
            for i in range(max(len(pair_chunks), len(token_chunks)))
        ]
        parts: list[Snapshot] = []
        for chunk_pairs, chunk_tokens in chunks:
            parts.extend(await self._read_chunk(chunk_pairs, chunk_tokens, holder, tag))
            tag = hex(parts[0].block_number)  # later chunks: the same block as the first
        return parts[0] if len(parts) == 1 else merge_snapshots(parts)

    async def _read_chunk(self, pairs: list[str], tokens: list[str], holder: str, tag: str) -> list[Snapshot]:
        call = {"data": "0x" + lens_calldata(pairs, tokens, holder).hex(), "gas": hex(self.call_gas)}
        self.calls += 1
        answer = await rpc.request(self.w3, "eth_call", [call, tag], self.deadline_s)
        where = f"{rpc.provider_label(self.w3)} at block {int(tag, 16) if tag.startswith('0x') else tag}"
        if "result" in answer:
            raise LensFailed(f"the book lens returned instead of reverting on {where}")
        error = answer["error"]
        data = rpc.error_data(error)
        if data is not None and len(data) >= 4:
            try:
                return [decode_book_read(data)]
            except LensFailed as exc:
                raise LensFailed(f"{exc} ({where})") from exc
        if _out_of_gas(error) and len(pairs) > 1:
            half = len(pairs) // 2
            log.info(
                "book chunk of %d pairs ran out of %d gas on %s: halving", len(pairs), self.call_gas, where
            )
            first = await self._read_chunk(pairs[:half], tokens, holder, tag)
            pinned = hex(first[0].block_number)
            return first + await self._read_chunk(pairs[half:], [], holder, pinned)
        message = error.get("message", error) if isinstance(error, dict) else error
        if _out_of_gas(error):
            raise LensFailed(
                f"reading {pairs or tokens} alone needs more than {self.call_gas} gas on {where}"
            )
        raise RpcError(f"eth_call of the book lens failed on {where}: {message}")


async def read_book(w3: AsyncWeb3[Any], book: Book, block: int | str) -> Snapshot:
    """The book read at `block`.

    Raises:
        BadInput: the node serves another chain, or a pair of the book cannot be read.
        RpcError: the node failed.
    """
    snapshot = await SnapshotReader(w3).read(
        list(book.pairs.values()), book.vault, [t.address for t in book.tokens.values()], block
    )
    if book.chain_id is not None and snapshot.chain_id != book.chain_id:
        raise BadInput(f"the RPC serves chain {snapshot.chain_id}; the book is for chain {book.chain_id}")
    if snapshot.errors:
        raise snapshot.errors[0]
    return snapshot
