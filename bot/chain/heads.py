"""New heads of the chain: HTTP polling, or `eth_subscribe("newHeads")` over a WebSocket (IO).

Both feed a `LatestHead`: a slot holding only the newest head and an event. The keeper takes
the newest head when it is ready, so heads that arrived while it worked are skipped, never
queued: it never works on a stale head.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.core.errors import BadInput, RpcError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: str
    timestamp: int
    base_fee: int
    seen_at: float  # time.perf_counter() when this process learnt of it


def parse_head(raw: Any, seen_at: float | None = None) -> Head:
    """A block header (eth_getBlockByNumber or a newHeads notification) as a Head.

    Raises:
        RpcError: it is not a header.
    """
    try:
        return Head(
            number=int(raw["number"], 16),
            hash=str(raw["hash"]),
            timestamp=int(raw["timestamp"], 16),
            base_fee=int(raw.get("baseFeePerGas") or "0x0", 16),
            seen_at=time.perf_counter() if seen_at is None else seen_at,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RpcError(f"a head that is not a block header: {str(raw)[:80]!r}") from None


class LatestHead:
    """The newest head seen, and an event set when it changes."""

    def __init__(self) -> None:
        self.head: Head | None = None
        self.changed = asyncio.Event()

    def offer(self, head: Head) -> None:
        if self.head is None or head.number > self.head.number or head.hash != self.head.hash:
            self.head = head
            self.changed.set()

    async def next(self) -> Head:
        await self.changed.wait()
        self.changed.clear()
        assert self.head is not None
        return self.head


async def latest_head(w3: AsyncWeb3[Any]) -> Head:
    return parse_head(await rpc.result(w3, "eth_getBlockByNumber", ["latest", False]))


async def poll(w3: AsyncWeb3[Any], slot: LatestHead, interval_s: float) -> None:
    """Offer the latest head every `interval_s` until cancelled; RPC failures are logged and retried."""
    while True:
        try:
            slot.offer(await latest_head(w3))
        except RpcError as exc:
            log.warning("head poll failed: %s", exc)
        await asyncio.sleep(interval_s)


def check_ws_url(url: str) -> str:
    if not url.startswith(("ws://", "wss://")):
        raise BadInput(f"heads URL {rpc.endpoint_label(url)!r} is not a ws(s) URL")
    if not urlsplit(url).hostname:
        raise BadInput(f"heads URL {rpc.endpoint_label(url)!r} has no host")
    return rpc.register(url)


async def subscribe(url: str, slot: LatestHead, reconnect_s: float = 2.0, deadline_s: float = 10.0) -> None:
    """Offer every head `eth_subscribe("newHeads")` sends over the WebSocket at `url`, reconnecting
    after failures, until cancelled."""
    label = rpc.endpoint_label(url)
    while True:
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(url, heartbeat=30) as ws:
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                              "params": ["newHeads"]}))  # fmt: skip
                async with asyncio.timeout(deadline_s):
                    answer = json.loads((await ws.receive()).data)
                if "result" not in answer:
                    raise RpcError(f"eth_subscribe on {label} refused: {answer.get('error')}")
                log.info("subscribed to new heads on %s", label)
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    note = json.loads(message.data)
                    if note.get("method") == "eth_subscription":
                        slot.offer(parse_head(note["params"]["result"]))
        except (aiohttp.ClientError, OSError, TimeoutError, RpcError, ValueError, KeyError) as exc:
            log.warning("head subscription on %s failed (%s); reconnecting", label, type(exc).__name__)
        await asyncio.sleep(reconnect_s)
