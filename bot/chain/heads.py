"""New heads of the chain: HTTP polling, or `eth_subscribe("newHeads")` over a WebSocket (IO).

Both feed a `LatestHead`: a slot holding only the newest head and an event. The keeper takes
the newest head when it is ready, so heads that arrived while it worked are skipped, never
queued: it never works on a stale head.
"""

from __future__ import annotations

import asyncio
import contextlib
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


async def subscribe(
    url: str,
    slot: LatestHead,
    *,
    fallback: AsyncWeb3[Any] | None = None,
    poll_s: float = 2.0,
    reconnect_s: float = 2.0,
    max_reconnect_s: float = 60.0,
    deadline_s: float = 10.0,
) -> None:
    """Offer every head `eth_subscribe("newHeads")` sends over the WebSocket at `url` until
    cancelled. Whatever ends the subscription (a close frame, a malformed message, a dead server)
    is logged; while it is down, heads come by polling `fallback` (the HTTP endpoints) and the
    WebSocket is tried again after a backoff that doubles up to `max_reconnect_s`."""
    label = endpoints.endpoint_label(url)
    wait_s = reconnect_s
    while True:
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(url, heartbeat=30) as ws:
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                              "params": ["newHeads"]}))  # fmt: skip
                async with asyncio.timeout(deadline_s):
                    answer = _message(await ws.receive(), label)
                if answer is None or "result" not in answer:
                    raise RpcError(
                        f"eth_subscribe on {label} refused: {(answer or {}).get('error', 'closed')}"
                    )
                log.info("subscribed to new heads on %s", label)
                wait_s = reconnect_s
                async for message in ws:
                    note = _message(message, label)
                    if note is None:
                        break
                    if note.get("method") == "eth_subscription":
                        params = note.get("params")
                        slot.offer(parse_head(params.get("result") if isinstance(params, dict) else None))
            log.warning("head subscription on %s closed; reconnecting", label)
        except (aiohttp.ClientError, OSError, TimeoutError, RpcError) as exc:
            log.warning("head subscription on %s failed (%s); reconnecting", label, endpoints.scrub(str(exc)))
        if fallback is None:
            await asyncio.sleep(wait_s)
        else:  # heads by polling until the WebSocket is tried again
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await poll(fallback, slot, poll_s)
        wait_s = min(max_reconnect_s, wait_s * 2)


def _message(message: aiohttp.WSMessage, label: str) -> dict[str, Any] | None:
    """A WebSocket message as a JSON-RPC object; None for a close (or any non-text) frame.

    Raises:
        RpcError: a text frame that is not a JSON object.
    """
    if message.type != aiohttp.WSMsgType.TEXT:
        return None
    try:
        data = json.loads(message.data)
    except ValueError:
        raise RpcError(f"{label} sent a WebSocket message that is not JSON") from None
    if not isinstance(data, dict):
        raise RpcError(f"{label} sent a WebSocket message that is not a JSON-RPC object")
    return data
