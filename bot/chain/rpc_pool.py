"""Several JSON-RPC endpoints behind one AsyncWeb3 provider: failover, rate limit, deadlines, retries (IO).

`EndpointPool` is an AsyncWeb3 provider, so everything that talks through `bot.chain.rpc` (the
snapshot reader, the executor's simulation, the transaction functions) gets, unchanged:

- a deadline on every HTTP request;
- a token bucket per pool (requests per second, with a burst);
- retries of transport failures (connection, timeout, HTTP 5xx, not JSON) with full-jitter
  exponential backoff, on the next endpoint when there is one;
- HTTP 429 waits as long as `Retry-After` says (seconds or an HTTP date), capped, and does not
  count against the endpoint: it is asking us to slow down, not failing;
- an endpoint that fails `fail_limit` times in a row, or does not answer within the deadline
  (hung), is paused for `pause_s` while another is available (the last one never is); one that
  failed in the last `pause_s` is tried after the others;
- an answer must carry its request's id: one meant for another request is a failure.

The pool alone owns the deadline of each attempt (`bot.chain.rpc.request` adds none on top).

JSON-RPC errors (a revert, "nonce too low") are answers: they are returned, never retried here.
Only endpoint labels (scheme://host:port) appear in logs and errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from web3.providers.async_base import AsyncJSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from bot.chain.endpoints import check_url, endpoint_label
from bot.core.errors import RpcError

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 10.0
FAIL_LIMIT = 3
PAUSE_S = 60.0


class TokenBucket:
    """At most `rate_per_s` requests per second on average, `burst` at once."""

    def __init__(
        self, rate_per_s: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate {rate_per_s} is not positive")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = self.burst
        self._clock = clock
        self._last = clock()

    def take(self) -> float:
        """Take one token; the seconds to wait before using it (0: at once)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate_per_s)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s


@dataclass(slots=True)
class Endpoint:
    url: str
    failures: int = 0
    paused_until: float = 0.0
    demoted_until: float = 0.0  # tried after the others until then (it failed last)

    @property
    def label(self) -> str:
        return endpoint_label(self.url)


class _Retry(Exception):
    """One HTTP try failed in a way worth another (internal).

    Attributes:
        counts: whether it counts against the endpoint (a 429 does not: it asks us to slow down).
        hung: the endpoint did not answer within the deadline: it is paused at once.
    """

    def __init__(
        self, what: str, retry_after_s: float | None = None, counts: bool = True, hung: bool = False
    ) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after_s = retry_after_s
        self.counts = counts
        self.hung = hung


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class EndpointPool(AsyncJSONBaseProvider):
    """An AsyncWeb3 provider over several endpoints, in order of preference."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        name: str = "rpc",
        deadline_s: float = DEFAULT_DEADLINE_S,
        retries: int = 3,
        rate_per_s: float = 25.0,
        fail_limit: int = FAIL_LIMIT,
        pause_s: float = PAUSE_S,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        max_retry_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        if not urls:
            raise ValueError(f"{name}: no endpoint")
        self.name = name
        self.endpoints = [Endpoint(check_url(u)) for u in urls]
        self.deadline_s = deadline_s
        self.retries = retries
        self.bucket = TokenBucket(rate_per_s, clock=clock)
        self.fail_limit = fail_limit
        self.pause_s = pause_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._session: aiohttp.ClientSession | None = None
        self._next = 0
        self.failovers = 0  # how often a request moved to another endpoint (for metrics)

    # bot.chain.rpc.provider_label reads this: the endpoint the next request goes to
    @property
    def endpoint_uri(self) -> str:
        endpoint = self._pick(avoid=None)
        return (endpoint or self.endpoints[0]).url

    def available(self) -> list[Endpoint]:
        now = self._clock()
        return [e for e in self.endpoints if e.paused_until <= now]

    def labels(self) -> list[str]:
        return [e.label for e in self.endpoints]

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = self.encode_rpc_request(method, params)
        last: _Retry | None = None
        tried: Endpoint | None = None
        for attempt in range(self.retries + 1):
            endpoint = self._pick(avoid=tried)
            if endpoint is None:
                soonest = min(e.paused_until for e in self.endpoints) - self._clock()
                raise RpcError(
                    f"{method}: every endpoint of {self.name} is paused after repeated failures; the "
                    f"first is back in {soonest:.0f} s" + (f" (last: {last.what})" if last else "")
                )
            if tried is not None and endpoint is not tried:
                self.failovers += 1
            tried = endpoint
            wait = self.bucket.take()
            if wait > 0:
                await self._sleep(wait)
            try:
                answer = await self._post(endpoint, method, body)
            except _Retry as exc:
                last = exc
                if exc.counts:
                    self._failed(endpoint, exc.what, exc.hung)
                if attempt == self.retries:
                    break
                await self._sleep(self._delay(attempt, exc.retry_after_s))
                continue
            endpoint.failures = 0
            return answer
        assert last is not None
        raise RpcError(f"{method} failed {self.retries + 1} times on {self.name}; last: {last.what}")

    def _pick(self, avoid: Endpoint | None) -> Endpoint | None:
        """The first available endpoint in order of preference, those that failed in the last
        `pause_s` behind the others (a failing endpoint costs one try, not one per request)."""
        now = self._clock()
        available = sorted(self.available(), key=lambda e: e.demoted_until > now)
        if not available:
            return None
        if avoid is not None and len(available) > 1 and avoid in available:
            return next(e for e in available if e is not avoid)
        return available[0]

    def _failed(self, endpoint: Endpoint, what: str, hung: bool = False) -> None:
        endpoint.failures += 1
        endpoint.demoted_until = self._clock() + self.pause_s
        others = [e for e in self.available() if e is not endpoint]
        # NOTE: the last available endpoint is never paused: a pause is for failing over, and with
        # nowhere to go it would only stop every head for pause_s after a short storm
        if others and (hung or endpoint.failures >= self.fail_limit):
            endpoint.failures = 0
            endpoint.paused_until = self._clock() + self.pause_s
            log.warning(
                "endpoint %s paused for %.0f s after %s (last: %s)", endpoint.label, self.pause_s,
                "a request it never answered" if hung else f"{self.fail_limit} failures in a row", what,
            )  # fmt: skip

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, never shorter than Retry-After (capped)."""
        backoff = min(self.max_backoff_s, self.backoff_s * (1 << attempt)) * self._jitter()
        if retry_after is None:
            return backoff
        return max(min(retry_after, self.max_retry_after_s), backoff)

    async def _post(self, endpoint: Endpoint, method: str, body: bytes) -> RPCResponse:
        where = f"{method} to {endpoint.label}"
        request_id = json.loads(body)["id"]
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.deadline_s):
                async with self._session.post(
                    endpoint.url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    if response.status == 429:
                        after = retry_after_s(response.headers.get("Retry-After"))
                        raise _Retry(f"{where}: HTTP 429 (retry after {after} s)", after, counts=False)
                    if response.status >= 300:
                        raise _Retry(f"{where}: HTTP {response.status}")
                    raw = await response.read()
        except TimeoutError:
            raise _Retry(f"{where} timed out after {self.deadline_s:g} s", hung=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            # NOTE: not chained, and only the type: aiohttp's text carries the full URL, key included
            raise _Retry(f"{where} failed: {type(exc).__name__}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise _Retry(f"{where} answered something that is not JSON") from None
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise _Retry(f"{where} answered something that is not JSON-RPC")
        if answer.get("id") != request_id:
            raise _Retry(f"{where} answered request id {answer.get('id')!r}, not {request_id!r}")
        return RPCResponse(**answer)  # type: ignore[typeddict-item]

    async def disconnect(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
