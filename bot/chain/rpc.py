"""JSON-RPC access over AsyncWeb3: every connection is an endpoint pool, errors name the endpoint.

Endpoint URLs often carry an API key in the path or query: only `endpoint_label` (scheme,
host, port) ever goes into a log line or an error (`bot.chain.endpoints`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from bot.chain.endpoints import endpoint_label, redact, scrub
from bot.chain.rpc_pool import DEFAULT_DEADLINE_S, EndpointPool
from bot.core.book import Book
from bot.core.errors import RpcError

# how nodes say they no longer keep a block's state (anvil, geth, erigon, reth, providers)
HISTORY_GONE = re.compile(
    r"BlockOutOfRange|missing trie node|header not found|state (?:is )?not available|pruned|"
    r"historical state|state histories|unknown block|block not found",
    re.IGNORECASE,
)


def pool(
    urls: str | Sequence[str],
    *,
    name: str = "rpc",
    book: Book | None = None,
    deadline_s: float | None = None,
    rate_per_s: float | None = None,
) -> EndpointPool:
    """An endpoint pool over `urls` with the book's deadline, retries and rate limit (or defaults);
    `deadline_s` and `rate_per_s` override them (a benchmark's one huge call, say)."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    settings = book.keeper if book is not None else None
    return EndpointPool(
        urls,
        name=name,
        deadline_s=deadline_s or (float(settings.rpc_deadline_s) if settings else DEFAULT_DEADLINE_S),
        retries=settings.rpc_retries if settings else 3,
        rate_per_s=rate_per_s or (float(settings.rate_limit_per_s) if settings else 25.0),
    )


@contextlib.asynccontextmanager
async def connect(
    urls: str | Sequence[str],
    *,
    name: str = "rpc",
    book: Book | None = None,
    deadline_s: float | None = None,
    rate_per_s: float | None = None,
) -> AsyncIterator[AsyncWeb3[EndpointPool]]:
    """An AsyncWeb3 over a pool of `urls` (failover, deadlines, retries), closed on exit."""
    provider = pool(urls, name=name, book=book, deadline_s=deadline_s, rate_per_s=rate_per_s)
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
    # NOTE: a pool owns the deadline of each attempt (and fails over on it); an outer deadline here
    # would fire first and leave a hung endpoint never counted failed
    owned = isinstance(w3.provider, EndpointPool)
    try:
        async with asyncio.timeout(None if owned else deadline_s):
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
