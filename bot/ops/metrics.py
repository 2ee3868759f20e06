"""Prometheus metrics and a health check on an aiohttp server (IO).

A small registry of gauges and counters (the text exposition format, version 0.0.4) rather
than a client library: the keeper exports a dozen values. `/healthz` answers 200 while the
keeper has processed a head recently, 503 once it has not (a stalled RPC, a stuck loop).
"""

from __future__ import annotations

import errno
import json
import math
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from bot.core.book import host_port
from bot.core.errors import BadInput, Transient

Labels = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Metric:
    name: str
    kind: str  # "gauge" | "counter"
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def set(self, value: float, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


class Registry:
    """The keeper's metrics, all prefixed `ammkeeper_`."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def gauge(self, name: str, help: str) -> Metric:
        return self._metrics.setdefault(name, Metric(f"ammkeeper_{name}", "gauge", help))

    def counter(self, name: str, help: str) -> Metric:
        return self._metrics.setdefault(name, Metric(f"ammkeeper_{name}_total", "counter", help))

    def render(self) -> str:
        lines = []
        for metric in self._metrics.values():
            lines.append(f"# HELP {metric.name} {metric.help}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            for labels, value in sorted(metric.values.items()):
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(
                    f"{metric.name}{{{text}}} {_number(value)}" if text else f"{metric.name} {_number(value)}"
                )
        return "\n".join(lines) + "\n"


@dataclass(slots=True)
class Health:
    """What /healthz reports; `stale_after_s` without a processed head makes it unhealthy."""

    stale_after_s: float
    clock: Callable[[], float] = time.monotonic
    last_head: int | None = None
    last_head_at: float | None = None
    paused: str | None = None
    detail: dict[str, object] = field(default_factory=dict)

    def processed(self, head: int) -> None:
        self.last_head = head
        self.last_head_at = self.clock()

    def report(self) -> tuple[bool, Mapping[str, object]]:
        age = None if self.last_head_at is None else self.clock() - self.last_head_at
        healthy = age is not None and age <= self.stale_after_s
        body = {
            "status": "ok" if healthy else ("starting" if age is None else "stale"),
            "head": self.last_head,
            "seconds_since_head": None if age is None else round(age, 3),
            "paused": self.paused,
            **self.detail,
        }
        return healthy, body


async def serve(
    registry: Registry, health: Health, address: str, more: Callable[[web.Application], None] | None = None
) -> web.AppRunner:
    """Start /metrics and /healthz on HOST:PORT (port 0: any free one), with `more` routes (the
    dashboard's); stop with `runner.cleanup()`."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=registry.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})  # fmt: skip

    async def healthz(_: web.Request) -> web.Response:
        healthy, body = health.report()
        return web.Response(
            text=json.dumps(body), status=200 if healthy else 503, content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    if more is not None:
        more(app)
    return await listen(app, address, "metrics")


async def listen(app: web.Application, address: str, what: str) -> web.AppRunner:
    """Serve `app` on HOST:PORT (port 0: any free one).

    Raises:
        BadInput: the host does not resolve, or the address cannot be listened on.
        Transient: the port is in use (the old process may still be stopping).
    """
    host, port = host_port(address)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except socket.gaierror:
        await runner.cleanup()
        raise BadInput(f"{what} address {address}: the host {host!r} does not resolve") from None
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:  # the old process may still be stopping: try again later
            raise Transient(f"{what} address {address}: the port is in use") from None
        raise BadInput(f"{what} address {address}: cannot listen there ({exc.strerror})") from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the server listens on (for port 0)."""
    address = runner.addresses[0]
    return int(address[1])
