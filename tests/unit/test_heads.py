"""Heads over a WebSocket on a real loopback server: close frames and garbage end the subscription,
never the keeper; while it is down, heads come by polling the HTTP endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import WSCloseCode, web

from bot.chain import rpc
from bot.chain.heads import LatestHead, subscribe


def header(number: int) -> dict[str, str]:
    return {"number": hex(number), "hash": "0x" + f"{number:064x}", "timestamp": hex(1_000 + number)}


Script = Callable[[web.WebSocketResponse, int], Any]


@asynccontextmanager
async def node(script: Script, http_head: int) -> AsyncIterator[tuple[str, str, list[int]]]:
    """A WebSocket endpoint run by `script` (per connection) and an HTTP one answering `http_head`."""
    connections: list[int] = []

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connections.append(len(connections) + 1)
        await script(ws, len(connections))
        return ws

    async def http_handler(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": header(http_head)})

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    app.router.add_post("/", http_handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/ws", f"http://127.0.0.1:{port}/", connections
    finally:
        await runner.cleanup()


async def subscribed(ws: web.WebSocketResponse) -> None:
    request = json.loads((await ws.receive()).data)
    await ws.send_json({"jsonrpc": "2.0", "id": request["id"], "result": "0xsub"})


async def heads_until(slot: LatestHead, number: int) -> None:
    while slot.head is None or slot.head.number < number:
        await slot.next()


def test_a_close_frame_before_or_after_subscribing_reconnects_and_heads_keep_coming() -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 1:  # a close frame instead of the subscription's answer
            await ws.receive()
            await ws.close(code=WSCloseCode.GOING_AWAY)
        elif n == 2:  # one head, then a close frame
            await subscribed(ws)
            await ws.send_json({"method": "eth_subscription", "params": {"result": header(5)}})
            await ws.close()
        else:  # garbage, then a head that is not a header
            await subscribed(ws)
            await ws.send_str("not json")

    async def go() -> tuple[int, list[int]]:
        async with node(script, http_head=9) as (ws_url, http_url, connections):
            slot = LatestHead()
            async with rpc.connect(http_url) as w3:
                task = asyncio.create_task(
                    subscribe(ws_url, slot, fallback=w3, poll_s=0.01, reconnect_s=0.05, deadline_s=1)
                )
                async with asyncio.timeout(10):
                    await heads_until(slot, 5)  # by the WebSocket, after the first connection closed
                    await heads_until(slot, 9)  # by polling, while the WebSocket is down
                    while len(connections) < 3:
                        await asyncio.sleep(0.01)
                assert not task.done()  # nothing escaped the subscription
                task.cancel()
            assert slot.head is not None
            return slot.head.number, connections

    number, connections = asyncio.run(go())
    assert number == 9 and connections[:3] == [1, 2, 3]


def test_without_a_fallback_it_only_reconnects() -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await subscribed(ws)
        await ws.send_json({"method": "eth_subscription", "params": {"result": {"number": "junk"}}})

    async def go() -> int:
        async with node(script, http_head=1) as (ws_url, _, connections):
            slot = LatestHead()
            task = asyncio.create_task(subscribe(ws_url, slot, reconnect_s=0.01, deadline_s=1))
            async with asyncio.timeout(10):
                while len(connections) < 3:
                    await asyncio.sleep(0.01)
            assert not task.done() and slot.head is None
            task.cancel()
            return len(connections)

    assert asyncio.run(go()) >= 3
