"""Endpoint URLs: checked, labelled, and their secrets kept out of every text (IO boundary).

RPC, WebSocket and webhook URLs often carry an API key: in the path (`/v3/KEY`), the query
(`?apikey=KEY`) or the user info. Only `endpoint_label` (scheme, host, port) goes into a log line,
an error, a page or the journal, and every such text passes `scrub`, which masks each secret part
of every URL this process was given, wherever it appears: a node that quotes the key alone
("invalid project id KEY") is scrubbed too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from bot.core.book import Book
from bot.core.errors import BadInput

ENV_RPC = "AMMKEEPER_RPC_URL"
WEBSOCKET = ("ws://", "wss://")
MASK = "***"
# a path segment or query value this long is treated as a secret wherever it appears; shorter
# ones ("v3", "rpc", "1") are masked only as part of the whole path or query
MIN_SECRET_LEN = 8

# every URL this process was given: nodes (a fork of it, say) may quote it in their errors
_SEEN_URLS: set[str] = set()


def endpoint_label(url: str) -> str:
    """scheme://host:port of a URL: no user info, path or query (where keys hide)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # an out-of-range port, an unbalanced IPv6 bracket
        return "(malformed URL)"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def secrets_of(url: str) -> list[str]:
    """The parts of `url` that may be secret, longest first: the path and query whole, user info,
    and each path segment or query value long enough to be a key."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = {s for s in (parts.path, parts.query, parts.username, parts.password) if s and len(s) > 1}
    found.update(s for s in parts.path.split("/") if len(s) >= MIN_SECRET_LEN)
    found.update(value for _, value in parse_qsl(parts.query) if len(value) >= MIN_SECRET_LEN)
    return sorted(found, key=len, reverse=True)


def register(url: str) -> str:
    """Mask the secret parts of `url` (an RPC, WebSocket or webhook URL) in every scrubbed text."""
    _SEEN_URLS.add(url)
    return url


def check_url(url: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """A URL with one of `schemes` and a host, or BadInput; its secret parts are masked from now on."""
    register(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on an out-of-range port)
    except ValueError as exc:  # its text is not shown: it may hold a key
        raise BadInput(f"a URL is malformed ({exc})") from None
    if parts.scheme not in schemes or not parts.hostname:
        wanted = f"{schemes[0]}(s)" if schemes == (schemes[0], schemes[0] + "s") else "/".join(schemes)
        raise BadInput(f"URL {endpoint_label(url)!r} is not an {wanted} URL with a host")
    return url


def redact(text: str, url: str) -> str:
    """`text` with the secret parts of `url` masked; its scheme, host and port stay readable."""
    secrets = secrets_of(url)
    if not secrets:
        return text
    text = text.replace(url, endpoint_label(url) + "/" + MASK)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def scrub(text: str) -> str:
    """`text` with the secret parts of every URL seen so far masked (errors, logs, pages, the journal)."""
    for url in sorted(_SEEN_URLS, key=len, reverse=True):
        text = redact(text, url)
    return text


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a book's requests go.

    Attributes:
        calls: HTTP endpoints for reads and simulations, in order of preference.
        sends: endpoints for transactions: the book's `send_rpc` (a private relay) first, then `calls`.
        heads_ws: a WebSocket endpoint for `eth_subscribe("newHeads")`, when one was given.
    """

    calls: list[str]
    sends: list[str]
    heads_ws: str | None


def resolve(
    book: Book | None, rpc: Sequence[str] | None = None, send_rpc: Sequence[str] | None = None
) -> Endpoints:
    """The one RPC resolver of every command: `--rpc` (repeatable), else the book's `rpc`, else
    $AMMKEEPER_RPC_URL. A ws(s):// URL serves heads; its http(s) twin serves calls when no other is given.

    Raises:
        BadInput: no endpoint at all, or one that is not a usable URL.
    """
    from_env = os.environ.get(ENV_RPC)
    urls = list(rpc or (book.rpc if book is not None else []) or ([from_env] if from_env else []))
    if not urls:
        raise BadInput(f"no RPC: pass --rpc URL, give rpc in the book, or set {ENV_RPC}")
    ws = [check_url(u, ("ws", "wss")) for u in urls if u.startswith(WEBSOCKET)]
    calls = [check_url(u) for u in urls if not u.startswith(WEBSOCKET)]
    if not calls:  # providers serve HTTP beside their WebSocket (same host and path for most)
        calls = [check_url("http" + u[2:]) for u in ws]
    relays = send_rpc if send_rpc else (book.keeper.send_rpc if book is not None else [])
    sends = [check_url(u) for u in relays]
    return Endpoints(calls, sends + [u for u in calls if u not in sends], ws[0] if ws else None)
