"""Alerts to a webhook: generic JSON, Slack, Discord or Telegram (IO).

An alert that cannot be delivered never stops the keeper: `send` logs one warning (the
endpoint's label only: webhook URLs carry their secret in the path) and returns False. The
same alert is not repeated within `min_interval_s` (a keeper failing every head would
otherwise page every head).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from bot import rpc
from bot.errors import BadInput

log = logging.getLogger(__name__)

Format = Literal["generic", "slack", "discord", "telegram"]
DISCORD_MAX = 2000
TELEGRAM_MAX = 4096


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # failure | breaker | paused | low_gas | executed
    title: str
    detail: str = ""
    book: str = ""

    def text(self) -> str:
        where = f"ammkeeper {self.book}" if self.book else "ammkeeper"
        head = f"[{where}] {self.kind}: {self.title}"
        return f"{head}\n{self.detail}" if self.detail else head


def payload(fmt: Format, alert: Alert, chat_id: str | None = None) -> dict[str, Any]:
    """The JSON body each service expects."""
    if fmt == "slack":
        detail = f"\n{alert.detail}" if alert.detail else ""
        return {"text": f"*ammkeeper {alert.book} {alert.kind}*: {alert.title}{detail}"}
    if fmt == "discord":
        return {"content": alert.text()[:DISCORD_MAX]}
    if fmt == "telegram":
        if not chat_id:
            raise ValueError("a telegram alert needs a chat_id")
        return {"chat_id": chat_id, "text": alert.text()[:TELEGRAM_MAX], "disable_web_page_preview": True}
    return {"source": "ammkeeper", "kind": alert.kind, "title": alert.title, "detail": alert.detail,
            "book": alert.book, "ts": int(time.time())}  # fmt: skip


class Alerter:
    """Posts alerts to one webhook."""

    def __init__(
        self, url: str, fmt: Format = "generic", *, chat_id: str | None = None, timeout_s: float = 5.0,
        min_interval_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        try:
            self.url = rpc.check_url(url)  # registered: masked in every scrubbed text from now on
        except BadInput:
            rpc.register(url)
            raise BadInput(f"webhook URL {rpc.endpoint_label(url)!r} is not an http(s) URL") from None
        if fmt == "telegram" and not chat_id:
            raise BadInput("telegram alerts need a chat_id")
        self.fmt: Format = fmt
        self.chat_id = chat_id
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._sent: dict[tuple[str, str], float] = {}
        self._session: aiohttp.ClientSession | None = None
        self.label = rpc.endpoint_label(url)

    async def send(self, alert: Alert) -> bool:
        """Post `alert`; True when the webhook answered 2xx, False when suppressed or undelivered."""
        key = (alert.kind, alert.title)
        last = self._sent.get(key)
        if last is not None and self._clock() - last < self.min_interval_s:
            log.debug("alert %s suppressed: sent %.0f s ago", alert.kind, self._clock() - last)
            return False
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout_s):
                body = payload(self.fmt, alert, self.chat_id)
                async with self._session.post(self.url, json=body) as response:
                    status = response.status
        except TimeoutError:
            log.warning("alert to %s timed out after %g s", self.label, self.timeout_s)
            return False
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("alert to %s failed: %s", self.label, type(exc).__name__)
            return False
        if not 200 <= status < 300:
            log.warning("alert to %s answered HTTP %d", self.label, status)
            return False
        self._sent[key] = self._clock()
        return True

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
