"""Alerts to a webhook: generic JSON, Slack, Discord or Telegram (IO).

An alert that cannot be delivered never stops the keeper: `Alerter.send` logs one warning
and returns False. Webhook URLs carry their secret in the path (Slack, Discord) or in the bot
token (Telegram): the URL is registered with `bot.chain.rpc` so every scrubbed text masks it, and
only its endpoint label (scheme, host, port) is ever written. Alert texts are scrubbed too:
a failure quoting an RPC URL must not hand its key to a chat service.

The same alert is not repeated within `min_interval_s`: a keeper failing at every head would
otherwise page at every head.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import aiohttp

from bot.chain import endpoints
from bot.core.errors import BadInput

log = logging.getLogger(__name__)

Format = Literal["generic", "slack", "discord", "telegram"]
FORMATS: tuple[str, ...] = get_args(Format)

# NOTE: both limits are counted in UTF-16 code units, the stricter of the ways these services
# count, so an emoji-heavy text is never refused for being one character too long.
DISCORD_MAX = 2000
TELEGRAM_MAX = 4096
ELLIPSIS = "…"

# kind -> severity, for receivers of the generic format that route on it
SEVERITY: dict[str, str] = {
    "breaker": "critical",
    "failure": "error",
    "paused": "warning",
    "low_gas": "warning",
    "resumed": "info",
    "executed": "info",
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing worth telling a human.

    Attributes:
        kind: failure, paused, resumed, low_gas, breaker or executed.
        title: one line.
        detail: more lines, optional.
        book: the book's name.
    """

    kind: str
    title: str
    detail: str = ""
    book: str = ""

    @property
    def severity(self) -> str:
        """critical, error, warning or info (an unknown kind is a warning)."""
        return SEVERITY.get(self.kind, "warning")

    def text(self) -> str:
        """Plain text, scrubbed: `[ammkeeper book] kind: title`, then the detail lines."""
        where = f"ammkeeper {self.book}" if self.book else "ammkeeper"
        head = f"[{where}] {self.kind}: {_one_line(self.title)}"
        return endpoints.scrub(f"{head}\n{self.detail}" if self.detail else head)


def payload(fmt: Format, alert: Alert, chat_id: str | None = None) -> dict[str, Any]:
    """The JSON body each service expects. Every text in it is scrubbed of registered secrets.

    Args:
        fmt: generic (our own JSON), slack (incoming webhook), discord (webhook) or telegram
            (Bot API `sendMessage`).
        alert: what to say.
        chat_id: the Telegram chat; required for telegram, ignored otherwise.

    Returns:
        generic: source, kind, severity, title, detail, book and text. slack: `text` in mrkdwn,
        the title in bold. discord: `content`, at most 2000 characters. telegram: `chat_id`,
        `text` (at most 4096 characters) and `disable_web_page_preview`.

    Raises:
        ValueError: an unknown format, or telegram without a chat_id.
    """
    if fmt == "generic":
        return {
            "source": "ammkeeper",
            "kind": alert.kind,
            "severity": alert.severity,
            "title": endpoints.scrub(_one_line(alert.title)),
            "detail": endpoints.scrub(alert.detail),
            "book": alert.book,
            "text": alert.text(),
        }
    if fmt == "slack":
        where = f"ammkeeper {alert.book}" if alert.book else "ammkeeper"
        title = _one_line(alert.title)
        head = f"[{where}] {alert.kind}: *{title}*" if title else f"[{where}] {alert.kind}"
        text = f"{head}\n{alert.detail}" if alert.detail else head
        return {"text": _slack_escape(endpoints.scrub(text))}
    if fmt == "discord":
        # NOTE: no mentions: an error text quoting "@everyone" must not ping the whole server
        return {"content": clip(alert.text(), DISCORD_MAX), "allowed_mentions": {"parse": []}}
    if fmt == "telegram":
        if not chat_id:
            raise ValueError("a telegram alert needs a chat_id")
        # no parse_mode: plain text, so nothing in an error message can break the markup
        return {
            "chat_id": chat_id,
            "text": clip(alert.text(), TELEGRAM_MAX),
            "disable_web_page_preview": True,
        }
    raise ValueError(f"unknown alert format {fmt!r}: one of {', '.join(FORMATS)}")


def clip(text: str, max_units: int) -> str:
    """`text` cut to at most `max_units` UTF-16 code units, ending in an ellipsis when it was cut.

    A character outside the Basic Multilingual Plane (most emoji) counts two units and is
    never split.
    """
    if len(text) * 2 <= max_units or _utf16_len(text) <= max_units:
        return text
    budget = max_units - len(ELLIPSIS)
    kept: list[str] = []
    for char in text[:budget]:
        units = 2 if ord(char) > 0xFFFF else 1
        if units > budget:
            break
        budget -= units
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _slack_escape(text: str) -> str:
    """The three characters Slack's mrkdwn reads as control characters, escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _retry_after_s(body: bytes) -> float | None:
    """`parameters.retry_after` of a Telegram Bot API error answer, if it has one."""
    try:
        answer = json.loads(body)
    except ValueError:  # a proxy's HTML page, say: there is simply no retry_after to read
        return None
    parameters = answer.get("parameters") if isinstance(answer, dict) else None
    retry = parameters.get("retry_after") if isinstance(parameters, dict) else None
    return float(retry) if isinstance(retry, int | float) else None


class Alerter:
    """Posts alerts to one webhook, at most one of a kind and title per `min_interval_s`.

    Attributes:
        label: the webhook's endpoint label (scheme://host:port), the only part of it ever logged.
    """

    def __init__(
        self,
        url: str,
        fmt: Format = "generic",
        *,
        chat_id: str | None = None,
        timeout_s: float = 5.0,
        min_interval_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """An alerter on `url`; no connection is opened before the first `send`.

        Args:
            url: the http(s) webhook URL. Its secret parts are masked in every scrubbed text from now on.
            fmt: the body's format (see `payload`).
            chat_id: the Telegram chat (required for telegram).
            timeout_s: the deadline of one delivery, connection included.
            min_interval_s: an alert of the same kind and title delivered less than this long ago
                is not sent again.
            clock: seconds, monotonic (injected by tests).

        Raises:
            BadInput: not an http(s) URL, an unknown format, telegram without a chat_id, or a
                timeout that is not positive.
        """
        try:
            self.url = endpoints.check_url(url)
        except BadInput:
            endpoints.register(url)  # wrong, but still a secret: masked wherever it is quoted later
            raise BadInput(f"webhook URL {endpoints.endpoint_label(url)!r} is not an http(s) URL") from None
        self.label = endpoints.endpoint_label(url)
        if fmt not in FORMATS:
            raise BadInput(f"alert format {fmt!r} is not one of {', '.join(FORMATS)}")
        if fmt == "telegram" and not chat_id:
            raise BadInput("telegram alerts need a chat_id")
        if timeout_s <= 0:
            raise BadInput(f"alert timeout_s must be positive, not {timeout_s:g}")
        self.fmt: Format = fmt
        self.chat_id = chat_id
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._sent: dict[tuple[str, str], float] = {}  # (kind, title) -> when it was delivered
        self._session: aiohttp.ClientSession | None = None

    async def send(self, alert: Alert) -> bool:
        """Post `alert` to the webhook.

        Network and HTTP failures are logged (one warning) and never raised: an alert that
        cannot be delivered must not stop the keeper.

        Returns:
            True when the webhook answered 2xx; False when it did not, or when the same alert
            was delivered less than `min_interval_s` ago.
        """
        key = (alert.kind, alert.title)
        last = self._sent.get(key)
        if last is not None and (ago_s := self._clock() - last) < self.min_interval_s:
            log.debug("alert %s not sent again: delivered %.0f s ago", alert.kind, ago_s)
            return False
        body = payload(self.fmt, alert, self.chat_id)  # outside the try: a bad payload is a bug
        if self._session is None:
            self._session = aiohttp.ClientSession()
        retry_after_s: float | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                # NOTE: no redirects: a webhook that moved is a failure to fix, not a place to post to
                async with self._session.post(self.url, json=body, allow_redirects=False) as response:
                    status = response.status
                    answer = await response.read()  # read to the end: the connection is kept for reuse
                    if status == 429 and self.fmt == "telegram":
                        retry_after_s = _retry_after_s(answer)
        except TimeoutError:
            self._warn(alert, f"timed out after {self.timeout_s:g} s")
            return False
        except (aiohttp.ClientError, OSError) as exc:
            # only the type: aiohttp's text quotes the URL, token and all
            self._warn(alert, f"failed: {type(exc).__name__}")
            return False
        if not 200 <= status < 300:
            retry = f" (retry after {retry_after_s:g} s)" if retry_after_s is not None else ""
            self._warn(alert, f"answered HTTP {status}{retry}")
            return False
        now = self._clock()
        self._sent = {k: t for k, t in self._sent.items() if now - t < self.min_interval_s}
        self._sent[key] = now
        log.info("alert %s sent to %s", alert.kind, self.label)
        return True

    async def close(self) -> None:
        """Close the HTTP session, if one was opened. The alerter may send again afterwards."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _warn(self, alert: Alert, what: str) -> None:
        log.warning("alert %s to %s not delivered: %s", alert.kind, self.label, endpoints.scrub(what))
