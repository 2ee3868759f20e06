"""JSON-RPC access over AsyncWeb3/aiohttp: a deadline on every call, errors that name the endpoint.

Endpoint URLs often carry an API key in the path or query: only `endpoint_label` (scheme,
host, port) ever goes into a log line or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import RPCEndpoint

from bot.core.errors import BadInput, RpcError

DEFAULT_DEADLINE_S = 10.0


def endpoint_label(url: str) -> str:
    """scheme://host:port of an RPC URL: no user info, path or query (where keys hide)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


# every RPC URL this process was given: nodes (a fork of it, say) may quote it in their errors
_SEEN_URLS: set[str] = set()


def register(url: str) -> str:
    """Mask the secret parts of `url` (an RPC, WebSocket or webhook URL) in every scrubbed text."""
    _SEEN_URLS.add(url)
    return url


def check_url(url: str) -> str:
    """An http(s) RPC URL, or BadInput. The URL's secret parts are masked in every error from now on."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"RPC URL {endpoint_label(url)!r} is not an http(s) URL")
    return register(url)


def scrub(text: str) -> str:
    """`text` with the secret parts of every RPC URL seen so far masked (for errors, logs, the journal)."""
    for url in sorted(_SEEN_URLS, key=len, reverse=True):
        text = redact(text, url)
    return text


@contextlib.asynccontextmanager
async def connect(
    url: str, deadline_s: float = DEFAULT_DEADLINE_S
) -> AsyncIterator[AsyncWeb3[AsyncHTTPProvider]]:
    """An AsyncWeb3 on `url` whose aiohttp session is closed on exit."""
    provider = AsyncHTTPProvider(
        check_url(url), request_kwargs={"timeout": aiohttp.ClientTimeout(total=deadline_s)}
    )
    w3 = AsyncWeb3(provider)
    try:
        yield w3
    finally:
        await provider.disconnect()


def provider_label(w3: AsyncWeb3[Any]) -> str:
    """The endpoint label of an AsyncWeb3 on HTTP."""
    uri = getattr(w3.provider, "endpoint_uri", None)
    return endpoint_label(str(uri)) if uri else type(w3.provider).__name__


def _describe(exc: BaseException, w3: AsyncWeb3[Any]) -> str:
    """An error's text with every secret-bearing part of the endpoint URL masked."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    return scrub(redact(f"{type(exc).__name__}: {exc}", str(getattr(w3.provider, "endpoint_uri", "") or "")))


def redact(text: str, url: str) -> str:
    """`text` with the secret-bearing parts of `url` (user info, path, query) masked; the
    scheme, host and port stay readable."""
    parts = urlsplit(url)
    secrets = [s for s in (parts.path, parts.query, parts.username, parts.password) if s and len(s) > 1]
    if not secrets:
        return text
    text = text.replace(url, endpoint_label(url) + "/***")
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def error_data(error: Any) -> bytes | None:
    """The revert data of a JSON-RPC error, wherever this node puts it (`data`, or `data.data`)."""
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, dict):
        data = data.get("data") or data.get("result")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


async def request(
    w3: AsyncWeb3[Any], method: str, params: Sequence[Any], deadline_s: float = DEFAULT_DEADLINE_S
) -> dict[str, Any]:
    """One raw JSON-RPC request. Returns the whole answer: the caller reads `result` or `error`.

    Raises:
        RpcError: timed out, could not connect, or answered something that is not JSON-RPC.
    """
    where = provider_label(w3)
    try:
        async with asyncio.timeout(deadline_s):
            answer = await w3.provider.make_request(RPCEndpoint(method), list(params))
    except TimeoutError as exc:
        raise RpcError(f"{method} to {where} timed out after {deadline_s:g} s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        # NOTE: not chained: aiohttp's text and attributes carry the full URL, API key included
        raise RpcError(f"{method} to {where} failed: {_describe(exc, w3)}") from None
    except ValueError:
        raise RpcError(f"{method} to {where} answered something that is not JSON") from None
    if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
        raise RpcError(f"{method} to {where} answered something that is not JSON-RPC")
    return dict(answer)


async def result(
    w3: AsyncWeb3[Any], method: str, params: Sequence[Any], deadline_s: float = DEFAULT_DEADLINE_S
) -> Any:
    """The `result` of one JSON-RPC request, or RpcError with the node's error message."""
    answer = await request(w3, method, params, deadline_s)
    if "error" in answer:
        message = (
            answer["error"].get("message", answer["error"])
            if isinstance(answer["error"], dict)
            else answer["error"]
        )
        raise RpcError(scrub(f"{method} to {provider_label(w3)} returned an error: {message}"))
    return answer["result"]
