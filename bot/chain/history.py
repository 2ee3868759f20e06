"""A chain's history of the book's pairs: their logs and the blocks' headers, read in ranges that
adapt to the node's limits, cached on disk and resumable.

`eth_getLogs` goes in spans of blocks that halve when a node refuses a range ("block range too
large", "more than 10000 results", a timeout) and grow again after each success. The endpoint pool
already retries what is transient (429 with its Retry-After, 5xx, timeouts); what still fails
stops the read with everything fetched so far kept: the cache holds each span's logs and headers
as they arrive, with the last block done, and the next run goes on from there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from web3 import AsyncWeb3

from bot.chain import rpc
from bot.core.chain_history import TOPICS, Header
from bot.core.errors import RpcError

log = logging.getLogger(__name__)

FIRST_SPAN = 2_000
MAX_SPAN = 50_000
HEADERS_AT_ONCE = 16
# how nodes and providers say a range is too wide (geth, erigon, reth, Alchemy, Infura, QuickNode, anvil)
RANGE_REFUSED = re.compile(
    r"range|too many|more than \d+|limit|exceed|too large|timeout|timed out|query returned|response size",
    re.IGNORECASE,
)


class HistoryCache:
    """One directory per (chain, pairs): `logs.jsonl` (each span's logs, one JSON list per line),
    `headers.jsonl`, and `state.json` (the last block whose logs are all in)."""

    def __init__(self, root: Path, chain_id: int, pairs: Sequence[str], start: int) -> None:
        key = hashlib.sha256(json.dumps([chain_id, sorted(p.lower() for p in pairs), start]).encode())
        self.dir = root / f"{chain_id}-{key.hexdigest()[:12]}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.start = start

    @property
    def done_through(self) -> int:
        """The last block whose logs are cached (start - 1 when none)."""
        state = self.dir / "state.json"
        if not state.is_file():
            return self.start - 1
        return int(json.loads(state.read_text())["logs_through"])

    def add_logs(self, logs: list[dict[str, Any]], through: int) -> None:
        with (self.dir / "logs.jsonl").open("a") as out:
            out.write(json.dumps(logs) + "\n")
            out.flush()
        scratch = self.dir / "state.json.tmp"
        scratch.write_text(json.dumps({"logs_through": through}))
        scratch.replace(self.dir / "state.json")

    def logs(self, end: int) -> list[dict[str, Any]]:
        path = self.dir / "logs.jsonl"
        if not path.is_file():
            return []
        out: list[dict[str, Any]] = []
        for line in path.read_text().splitlines():
            if line.strip():
                out += [entry for entry in json.loads(line) if int(entry["blockNumber"], 16) <= end]
        return out

    def headers(self) -> dict[int, Header]:
        path = self.dir / "headers.jsonl"
        if not path.is_file():
            return {}
        found = {}
        for line in path.read_text().splitlines():
            if line.strip():
                n, t, f = json.loads(line)
                found[n] = Header(n, t, f)
        return found

    def add_headers(self, headers: Sequence[Header]) -> None:
        with (self.dir / "headers.jsonl").open("a") as out:
            for h in headers:
                out.write(json.dumps([h.number, h.timestamp, h.base_fee_wei]) + "\n")


async def scan_logs(
    w3: AsyncWeb3[Any],
    queries: Sequence[dict[str, Any]],
    start: int,
    end: int,
    on_span: Callable[[list[dict[str, Any]], int], Awaitable[None]],
    resume: str,
) -> None:
    """Every log the `eth_getLogs` filters `queries` match in blocks start..end, span by span:
    `on_span(logs, last_block)` keeps each span's logs (in query order) before the next is read.

    Raises:
        RpcError: the node failed in a way a narrower range does not help; `resume` says where
            what was read is kept (e.g. "cached in DIR").
    """
    at = start
    span = FIRST_SPAN
    while at <= end:
        upto = min(end, at + span - 1)
        found: list[dict[str, Any]] = []
        try:
            for query in queries:
                answer = await rpc.result(
                    w3, "eth_getLogs", [{**query, "fromBlock": hex(at), "toBlock": hex(upto)}]
                )
                if not isinstance(answer, list):
                    raise RpcError(f"eth_getLogs answered {str(answer)[:60]!r}, not a list of logs")
                found += answer
        except RpcError as exc:
            if span > 1 and RANGE_REFUSED.search(str(exc)):
                span = max(1, span // 2)
                log.info("eth_getLogs over %d blocks refused; trying %d", upto - at + 1, span)
                continue
            raise RpcError(
                f"{exc}; what was read through block {at - 1} is {resume}: run again to go on"
            ) from None
        await on_span(found, upto)
        at = upto + 1
        span = min(MAX_SPAN, span * 2)


async def read_logs(
    w3: AsyncWeb3[Any],
    pairs: Sequence[str],
    start: int,
    end: int,
    cache: HistoryCache,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every Sync, Swap, Mint, Burn and Transfer log of `pairs` in blocks start..end.

    Raises:
        RpcError: the node failed in a way a narrower range does not help (what was read is kept).
    """

    async def keep(found: list[dict[str, Any]], upto: int) -> None:
        cache.add_logs(found, upto)
        if progress is not None:
            progress("logs", upto - start + 1, end - start + 1)

    query = {"address": list(pairs), "topics": [list(TOPICS)]}
    await scan_logs(w3, [query], cache.done_through + 1, end, keep, f"cached in {cache.dir}")
    return cache.logs(end)


async def read_headers(
    w3: AsyncWeb3[Any],
    blocks: Sequence[int],
    cache: HistoryCache,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Header]:
    """Each block's time and base fee, cached as they arrive."""
    have = cache.headers()
    missing = [b for b in blocks if b not in have]
    for i in range(0, len(missing), HEADERS_AT_ONCE):
        batch = missing[i : i + HEADERS_AT_ONCE]
        answers = await asyncio.gather(
            *(rpc.result(w3, "eth_getBlockByNumber", [hex(b), False]) for b in batch)
        )
        got = []
        for number, answer in zip(batch, answers, strict=True):
            if not isinstance(answer, dict) or "timestamp" not in answer:
                raise RpcError(f"eth_getBlockByNumber {number} answered no block (is it past the head?)")
            got.append(
                Header(number, int(answer["timestamp"], 16), int(answer.get("baseFeePerGas", "0x0"), 16))
            )
        cache.add_headers(got)
        have.update({h.number: h for h in got})
        if progress is not None:
            progress("headers", min(i + HEADERS_AT_ONCE, len(missing)), len(missing))
    return [have[b] for b in blocks]
