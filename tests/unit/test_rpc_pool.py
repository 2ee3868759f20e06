"""The endpoint pool against real HTTP servers on loopback: failover, pauses, 429, deadlines, rate limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web
from web3 import AsyncWeb3

from bot.chain import endpoints, rpc
from bot.chain.rpc_pool import EndpointPool, TokenBucket, retry_after_s
from bot.core.errors import RpcError

Behaviour = Callable[[int], web.Response | None]  # request number -> a fault, or None for a good answer


@asynccontextmanager
async def server(behaviour: Behaviour, path: str = "/") -> AsyncIterator[tuple[str, list[str]]]:
    """A JSON-RPC server answering eth_blockNumber = 0x10 unless `behaviour` returns a fault."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        seen.append(body["method"])
        fault = behaviour(len(seen))
        if fault is not None:
            return fault
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "0x10"})

    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}{path}", seen
    finally:
        await runner.cleanup()


class Recorder:
    """An injected sleep: records every wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _pool(urls: list[str], sleep: Recorder, **kwargs: object) -> EndpointPool:
    return EndpointPool(urls, sleep=sleep, jitter=lambda: 0.5, **kwargs)  # type: ignore[arg-type]


def test_a_429_waits_as_long_as_retry_after_and_does_not_pause_the_endpoint() -> None:
    async def go() -> None:
        def limited(n: int) -> web.Response | None:
            return web.Response(status=429, headers={"Retry-After": "3"}) if n <= 2 else None

        async with server(limited) as (url, seen):
            sleep = Recorder()
            pool = _pool([url], sleep, fail_limit=2)
            try:
                w3 = AsyncWeb3(pool)
                assert await rpc.result(w3, "eth_blockNumber", []) == "0x10"
            finally:
                await pool.disconnect()
            assert seen == ["eth_blockNumber"] * 3
            assert sleep.waits == [3.0, 3.0]  # the header, not the (shorter) backoff
            assert pool.available() == pool.endpoints  # two 429s did not pause it (limit 2)

    asyncio.run(go())


def test_a_failing_endpoint_is_failed_over_then_tried_last_and_three_in_a_row_pause_it() -> None:
    async def go() -> None:
        async with (
            server(lambda n: web.Response(status=502)) as (bad, bad_seen),
            server(lambda n: None) as (good, good_seen),
        ):
            sleep = Recorder()
            now = [1000.0]
            pool = _pool([bad, good], sleep, clock=lambda: now[0], pause_s=60.0)
            w3 = AsyncWeb3(pool)
            try:
                for _ in range(3):
                    assert await rpc.result(w3, "eth_blockNumber", []) == "0x10"
                # one failure moved the first request on, and the bad endpoint is tried last since
                assert len(bad_seen) == 1 and len(good_seen) == 3 and pool.failovers == 1
                assert rpc.provider_label(w3) == endpoints.endpoint_label(good)
                for _ in range(2):  # preferred again once demoted long enough; two more failures pause it
                    now[0] += 61
                    assert await rpc.result(w3, "eth_blockNumber", []) == "0x10"
                assert len(bad_seen) == 3 and len(good_seen) == 5
                assert [e.label for e in pool.available()] == [endpoints.endpoint_label(good)]
                now[0] += 61  # the pause ends: the preferred endpoint is tried again
                assert pool.available()[0].url == bad
            finally:
                await pool.disconnect()
            # backoff: full jitter (0.5 here) of 0.2 s doubling per try
            assert sleep.waits == [0.1, 0.1, 0.1]

    asyncio.run(go())


def test_when_every_endpoint_fails_the_error_names_no_secret_and_the_last_one_is_not_paused() -> None:
    async def go() -> None:
        async with (
            server(lambda n: web.Response(status=500), path="/v3/SECRETKEY") as (first, first_seen),
            server(lambda n: web.Response(status=500), path="/v3/OTHERSECRET") as (second, second_seen),
        ):
            sleep = Recorder()
            pool = _pool([first, second], sleep, retries=5, fail_limit=3)
            try:
                with pytest.raises(RpcError) as failed:
                    await rpc.result(AsyncWeb3(pool), "eth_blockNumber", [])
            finally:
                await pool.disconnect()
            # the first is paused after its third failure; the second, the last one left, never is
            assert len(first_seen) == 3 and len(second_seen) == 3
            assert [e.url for e in pool.available()] == [second]
            assert "failed 6 times on rpc" in str(failed.value) and "HTTP 500" in str(failed.value)
            assert "SECRETKEY" not in str(failed.value) and "OTHERSECRET" not in str(failed.value)

    asyncio.run(go())


@asynccontextmanager
async def hung_server() -> AsyncIterator[tuple[str, list[str]]]:
    """An endpoint that accepts requests and never answers them."""
    seen: list[str] = []
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read())["method"])
        await release.wait()
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/", seen
    finally:
        release.set()
        await runner.cleanup()


def test_a_hung_endpoint_is_failed_over_within_one_deadline_and_paused() -> None:
    """The pool's per-attempt deadline fires (not an outer one of the same length), so the request
    is answered by the second endpoint; the hung one is paused and costs no further request."""

    async def go() -> None:
        async with hung_server() as (hung, hung_seen), server(lambda n: None) as (good, good_seen):
            pool = _pool([hung, good], Recorder(), deadline_s=0.5)
            w3 = AsyncWeb3(pool)
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                # the caller's deadline is the pool's: the pool alone owns per-attempt deadlines
                answer = await rpc.result(w3, "eth_blockNumber", [], deadline_s=0.5)
                first_s = loop.time() - started
                for _ in range(3):
                    assert await rpc.result(w3, "eth_blockNumber", [], deadline_s=0.5) == "0x10"
            finally:
                await pool.disconnect()
            assert answer == "0x10"
            assert first_s < 2 * 0.5  # one deadline on the hung endpoint, then the answer
            assert hung_seen == ["eth_blockNumber"] and len(good_seen) == 4
            assert [e.url for e in pool.available()] == [good]

    asyncio.run(go())


def test_an_answer_with_another_requests_id_is_not_used() -> None:
    async def go() -> None:
        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            return web.json_response({"jsonrpc": "2.0", "id": body["id"] + 1000, "result": "0xbad"})

        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        liar = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        try:
            async with server(lambda n: None) as (good, _):
                pool = _pool([liar, good], Recorder())
                try:
                    assert await rpc.result(AsyncWeb3(pool), "eth_blockNumber", []) == "0x10"
                finally:
                    await pool.disconnect()
                assert pool.endpoints[0].failures == 1
            alone = _pool([liar], Recorder(), retries=1)
            try:
                with pytest.raises(RpcError, match="answered request id"):
                    await rpc.result(AsyncWeb3(alone), "eth_blockNumber", [])
            finally:
                await alone.disconnect()
        finally:
            await runner.cleanup()

    asyncio.run(go())


def test_a_single_endpoint_is_never_paused_by_a_short_storm() -> None:
    async def go() -> None:
        async with server(lambda n: web.Response(status=502) if n <= 4 else None) as (url, seen):
            pool = _pool([url], Recorder(), retries=5, fail_limit=3)
            try:
                assert await rpc.result(AsyncWeb3(pool), "eth_blockNumber", []) == "0x10"
            finally:
                await pool.disconnect()
            assert len(seen) == 5 and pool.available() == pool.endpoints

    asyncio.run(go())


def test_a_silent_endpoint_hits_the_deadline_and_json_rpc_errors_are_answers() -> None:
    async def go() -> None:
        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            if body["method"] == "eth_call":
                return web.json_response(
                    {
                        "jsonrpc": "2.0",
                        "id": body["id"],
                        "error": {"code": 3, "message": "execution reverted"},
                    }
                )
            await asyncio.sleep(1)
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "0x1"})

        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        pool = _pool([url], Recorder(), deadline_s=0.2, retries=1)
        try:
            with pytest.raises(RpcError, match=r"failed 2 times on rpc; last: .*timed out after 0\.2 s"):
                await rpc.result(AsyncWeb3(pool), "eth_blockNumber", [])
            answer = await rpc.request(AsyncWeb3(pool), "eth_call", [{}, "latest"])
            assert answer["error"]["message"] == "execution reverted"
            assert pool.endpoints[0].failures == 0  # an answer, even an error, resets the count
        finally:
            await pool.disconnect()
            await runner.cleanup()

    asyncio.run(go())


def test_the_token_bucket_spaces_requests_beyond_the_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(rate_per_s=10, burst=2, clock=lambda: now[0])
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.1)
    assert bucket.take() == pytest.approx(0.2)
    now[0] = 10.0  # refilled, but never above the burst
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.1)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None
