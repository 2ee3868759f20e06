"""Webhook alerts against a real HTTP server on loopback: the four formats, failures that never
raise and never quote the webhook's secret, duplicate suppression."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.chain import endpoints
from bot.core.errors import BadInput
from bot.ops.alerts import DISCORD_MAX, TELEGRAM_MAX, Alert, Alerter, clip, payload

SECRET_PATH = "/services/T000/SECRETXYZ"
ALERT = Alert("failure", "simulation reverted", "K decreased\nat block 12", "eth-usdc")


@dataclass
class Hook:
    """What a test webhook received: the JSON bodies, and the client address of each request."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    peers: list[object] = field(default_factory=list)


@asynccontextmanager
async def webhook(
    path: str, answer: Callable[[], web.StreamResponse] | None = None, *, hang: bool = False
) -> AsyncIterator[Hook]:
    """A webhook on 127.0.0.1 recording every request; 200 unless `answer` says otherwise.

    With `hang`, it never answers (until the test is over).
    """
    hook = Hook("")
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        hook.bodies.append(json.loads(await request.read()))
        hook.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        if hang:
            await release.wait()
        return answer() if answer is not None else web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app, access_log=None)  # the access log would quote the secret path
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
        yield hook
    finally:
        release.set()
        await runner.cleanup()


async def send_once(alerter: Alerter, alert: Alert = ALERT) -> bool:
    try:
        return await alerter.send(alert)
    finally:
        await alerter.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "bot.ops.alerts" and r.levelno >= logging.WARNING
    ]


def assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged, by us or by aiohttp, at any level, quotes the secret (tracebacks included)."""
    assert caplog.records
    for record in caplog.records:
        assert "SECRETXYZ" not in record.getMessage()
        assert record.exc_info is None or "SECRETXYZ" not in logging.Formatter().formatException(
            record.exc_info
        )
    assert "SECRETXYZ" not in caplog.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- formats ------------------------------------------------------------------------------------


def test_each_format_arrives_with_its_json_shape() -> None:
    async def go() -> dict[str, dict[str, Any]]:
        bodies: dict[str, dict[str, Any]] = {}
        for fmt in ("generic", "slack", "discord", "telegram"):
            async with webhook(f"/hook/{fmt}") as hook:
                alerter = Alerter(hook.url, fmt, chat_id="-100123")
                assert await send_once(alerter) is True
                assert len(hook.bodies) == 1
                bodies[fmt] = hook.bodies[0]
        return bodies

    bodies = asyncio.run(go())
    assert bodies["generic"] == {
        "source": "ammkeeper",
        "kind": "failure",
        "severity": "error",
        "title": "simulation reverted",
        "detail": "K decreased\nat block 12",
        "book": "eth-usdc",
        "text": "[ammkeeper eth-usdc] failure: simulation reverted\nK decreased\nat block 12",
    }
    assert bodies["slack"] == {
        "text": "[ammkeeper eth-usdc] failure: *simulation reverted*\nK decreased\nat block 12"
    }
    assert bodies["discord"] == {
        "content": "[ammkeeper eth-usdc] failure: simulation reverted\nK decreased\nat block 12",
        "allowed_mentions": {"parse": []},
    }
    assert bodies["telegram"] == {
        "chat_id": "-100123",
        "text": "[ammkeeper eth-usdc] failure: simulation reverted\nK decreased\nat block 12",
        "disable_web_page_preview": True,
    }


def test_slack_text_escapes_mrkdwn_control_characters() -> None:
    body = payload("slack", Alert("low_gas", "balance < 0.05 ETH", "gas & fees: <see journal>"))
    assert body == {
        "text": "[ammkeeper] low_gas: *balance &lt; 0.05 ETH*\ngas &amp; fees: &lt;see journal&gt;"
    }


def test_discord_and_telegram_texts_are_cut_to_their_limits() -> None:
    long = Alert("failure", "trace", "x" * 10_000)
    content = payload("discord", long)["content"]
    text = payload("telegram", long, chat_id="1")["text"]
    assert len(content) == DISCORD_MAX and content.endswith("x…")
    assert len(text) == TELEGRAM_MAX and text.endswith("x…")
    assert content.startswith("[ammkeeper] failure: trace\nxxx")
    short = payload("discord", ALERT)["content"]
    assert not short.endswith("…") and short.endswith("at block 12")


def test_clip_counts_utf16_units_and_never_splits_an_emoji() -> None:
    assert clip("🚨" * 3, 6) == "🚨" * 3  # exactly at the limit: untouched
    cut = clip("🚨" * 3, 5)
    assert cut == "🚨" * 2 + "…"  # 2 + 2 + 1 units
    assert len(cut.encode("utf-16-le")) // 2 <= 5
    assert clip("a🚨b", 3) == "a…"  # the emoji does not fit next to the ellipsis, and is not halved
    assert clip("abc", 3) == "abc"


def test_telegram_without_a_chat_id_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="chat_id"):
        payload("telegram", ALERT)
    with pytest.raises(ValueError, match="chat_id"):
        Alerter("https://api.telegram.org/bot123:TOKEN/sendMessage", "telegram")


def test_alert_texts_are_scrubbed_of_registered_rpc_keys() -> None:
    endpoints.register("https://mainnet.example/v3/RPCKEY42")
    alert = Alert("failure", "eth_call to https://mainnet.example/v3/RPCKEY42 failed", "from /v3/RPCKEY42")
    for fmt in ("generic", "slack", "discord", "telegram"):
        assert "RPCKEY42" not in json.dumps(payload(fmt, alert, chat_id="1"))
    assert "https://mainnet.example/***" in payload("discord", alert)["content"]


# --- failures -----------------------------------------------------------------------------------


def test_a_500_returns_false_and_logs_one_warning_naming_the_host_not_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> tuple[bool, Hook]:
        async with webhook(SECRET_PATH, lambda: web.Response(status=500, text=SECRET_PATH)) as hook:
            delivered = await send_once(Alerter(hook.url, "slack"))
            return delivered, hook

    delivered, hook = asyncio.run(go())
    assert delivered is False and len(hook.bodies) == 1
    [warning] = warnings_of(caplog)
    assert endpoints.endpoint_label(hook.url) in warning and "127.0.0.1" in warning
    assert "HTTP 500" in warning
    assert_no_secret(caplog)
    assert "SECRETXYZ" not in endpoints.scrub(f"POST {hook.url} failed")  # registered: masked in any text


def test_a_webhook_that_never_answers_times_out_and_returns_false(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> tuple[bool, float, int]:
        async with webhook(SECRET_PATH, hang=True) as hook:
            alerter = Alerter(hook.url, timeout_s=0.3)
            started = asyncio.get_running_loop().time()
            async with asyncio.timeout(5):  # were the alerter's own deadline gone: fail, do not hang
                delivered = await send_once(alerter)
            return delivered, asyncio.get_running_loop().time() - started, len(hook.bodies)

    delivered, elapsed_s, requests = asyncio.run(go())
    assert delivered is False
    assert requests == 1  # it arrived; the answer never came
    assert 0.25 < elapsed_s < 2.0
    [warning] = warnings_of(caplog)
    assert "timed out after 0.3 s" in warning and "127.0.0.1" in warning
    assert_no_secret(caplog)


def test_a_closed_port_returns_false(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    alerter = Alerter(f"http://127.0.0.1:{port}{SECRET_PATH}", "discord", timeout_s=2.0)
    assert asyncio.run(send_once(alerter)) is False
    [warning] = warnings_of(caplog)
    assert f"http://127.0.0.1:{port}" in warning and "ClientConnectorError" in warning
    assert_no_secret(caplog)


def test_a_telegram_429_logs_its_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    limited = {"ok": False, "error_code": 429, "parameters": {"retry_after": 7}}

    async def go() -> bool:
        async with webhook("/botTOKEN/sendMessage", lambda: web.json_response(limited, status=429)) as hook:
            return await send_once(Alerter(hook.url, "telegram", chat_id="1"))

    assert asyncio.run(go()) is False
    [warning] = warnings_of(caplog)
    assert "HTTP 429 (retry after 7 s)" in warning


def test_a_non_http_url_is_bad_input_naming_the_webhook_without_its_secret() -> None:
    url = "ftp://127.0.0.1/hooks/FTPSECRET"
    with pytest.raises(BadInput, match=r"webhook URL 'ftp://127\.0\.0\.1' is not an http") as bad:
        Alerter(url)
    assert "FTPSECRET" not in str(bad.value)
    assert bad.value.__cause__ is None and bad.value.__suppress_context__
    assert "FTPSECRET" not in endpoints.scrub(f"could not post to {url}")  # a wrong URL is still a secret


# --- duplicates ---------------------------------------------------------------------------------


def test_the_same_alert_is_sent_once_per_interval_on_one_session(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.ops.alerts")
    now = [1000.0]

    async def go() -> tuple[list[bool], Hook]:
        async with webhook("/hook/dedup") as hook:
            alerter = Alerter(hook.url, min_interval_s=300.0, clock=lambda: now[0])
            try:
                results = [await alerter.send(ALERT)]
                now[0] += 299.0
                results.append(await alerter.send(ALERT))  # within the interval: suppressed
                results.append(await alerter.send(Alert("failure", "another title")))  # a new alert
                now[0] += 1.0
                results.append(await alerter.send(ALERT))  # 300 s later: sent again
            finally:
                await alerter.close()
            return results, hook

    results, hook = asyncio.run(go())
    assert results == [True, False, True, True]
    assert [body["title"] for body in hook.bodies] == [ALERT.title, "another title", ALERT.title]
    assert len(set(hook.peers)) == 1  # one session, one kept-alive connection
    assert any("not sent again" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    assert not warnings_of(caplog)


def test_an_undelivered_alert_is_not_suppressed() -> None:
    now = [0.0]
    answers = iter([500, 200])

    async def go() -> tuple[list[bool], int]:
        async with webhook("/hook/retry", lambda: web.Response(status=next(answers))) as hook:
            alerter = Alerter(hook.url, clock=lambda: now[0])
            try:
                return [await alerter.send(ALERT), await alerter.send(ALERT)], len(hook.bodies)
            finally:
                await alerter.close()

    assert asyncio.run(go()) == ([False, True], 2)
