"""New heads of the chain: HTTP polling, or `eth_subscribe("newHeads")` over a WebSocket (IO).

Both feed a `LatestHead`: a slot holding only the newest head and an event. The keeper takes
the newest head when it is ready, so heads that arrived while it worked are skipped, never
queued: it never works on a stale head.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from web3 import AsyncWeb3

from bot.chain import endpoints
from bot.chain.headers import Head, header_at, parse_head
from bot.core.errors import RpcError

__all__ = ["Head", "LatestHead", "parse_head", "poll", "subscribe"]

log = logging.getLogger(__name__)


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


async def poll(w3: AsyncWeb3[Any], slot: LatestHead, interval_s: float) -> None:
    """Offer the latest head every `interval_s` until cancelled; RPC failures are logged and retried."""
    while True:
        try:
            slot.offer(await header_at(w3, "latest"))
        except RpcError as exc:
            log.warning("head poll failed: %s", exc)
        await asyncio.sleep(interval_s)


async def subscribe(url: str, slot: LatestHead, reconnect_s: float = 2.0, deadline_s: float = 10.0) -> None:
    """Offer every head `eth_subscribe("newHeads")` sends over the WebSocket at `url`, reconnecting
    after failures, until cancelled."""
    label = endpoints.endpoint_label(url)
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
