"""The dashboard: the book, its history and the keeper, as pages and as JSON (orchestration).

Served by `ammkeeper run` beside /metrics and /healthz (the running keeper's own view and
state), or alone by `ammkeeper dashboard` (the journal and the chain). The pages are static
HTML and our own script; they read the same JSON endpoints any other tool can, and poll them
so they follow each head without reloading. Charts are drawn in the browser by Chart.js, an npm
package installed at set-up and served from node_modules (never copied into the repository).

Read-only unless started with a token. With one, the pages show pause and resume buttons; the
operator types the token into the page, which sends it with each POST. A POST needs the token
and an Origin of this very server (no other site can make a browser send one), and is
journaled with who sent it. No key, password, token or RPC credential reaches a page or JSON.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from web3 import AsyncWeb3

from bot.chain import rpc
from bot.chain.rpc_pool import EndpointPool
from bot.chain.vault import vault_keeper, vault_paused
from bot.core.book import Book
from bot.core.errors import BadInput, KeeperError, RpcError
from bot.core.guards import midnight_utc
from bot.keeper.planning import PlanResult, plan_on
from bot.keeper.step import Keeper
from bot.keeper.vault_pause import pause_vault
from bot.ops import kill_switch
from bot.report import dashboard_pages, plan_report
from bot.tx.journal import ExecutedBundle, Journal

log = logging.getLogger(__name__)

CHART_JS = Path(__file__).resolve().parents[2] / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
SERIES_POINTS = 400  # the history chart's points at most (heads thinned evenly beyond): a chart's width
HEADS_SHOWN = 30
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


MIN_TOKEN_CHARS = 16


def control_token(env_name: str | None) -> str | None:
    """The control token from the environment variable `env_name` (None: read-only).

    Raises:
        BadInput: the variable holds a token too short to be one.
    """
    if not env_name:
        return None
    token = os.environ.get(env_name, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise BadInput(
            f"the dashboard token in ${env_name} is too short: at least {MIN_TOKEN_CHARS} characters"
        )
    return token


def _float(text: str | None) -> float | None:
    return None if text is None else float(Decimal(text))


@dataclass
class Dashboard:
    """What the pages show, from a running keeper when there is one, else from the journal and chain.

    Attributes:
        reader: the chain (a running keeper's own reader, or the dashboard's).
        token: the control token (None: read-only).
    """

    book: Book
    book_path: Path
    journal: Journal
    reader: AsyncWeb3[Any]
    chain_id: int
    token: str | None = None
    keeper: Keeper | None = None
    _book_cache: tuple[int, PlanResult] | None = None
    _rebalances: dict[tuple[int, str, int], dict[str, Any]] = field(default_factory=dict)

    # --- the book ----------------------------------------------------------------------------

    async def _result(self) -> PlanResult:
        if self.keeper is not None and self.keeper.result is not None:
            return self.keeper.result
        head = int(await rpc.result(self.reader, "eth_blockNumber", []), 16)
        if self._book_cache is None or self._book_cache[0] != head:
            result = await plan_on(self.reader, self.book, head, check=False, journal=self.journal)
            self._book_cache = (head, result)
        return self._book_cache[1]

    async def book_json(self) -> dict[str, Any]:
        """`ammkeeper plan --json` of the last head (the running keeper's, or read now)."""
        result = await self._result()
        out = plan_report.as_json(result.view, result.decision)
        out["source"] = "keeper" if self.keeper is not None and self.keeper.result is result else "chain"
        out["book"] = self.book.name
        return out

    # --- the history -----------------------------------------------------------------------------

    def history_json(self) -> dict[str, Any]:
        """The book's value against holding and the LP never rebalanced over the journaled heads, and
        every rebalance: plan, costs, predicted against realized, gas, transactions, tax."""
        heads = self.journal.head_values(self.chain_id, self.book.vault)
        step = max(1, -(-len(heads) // SERIES_POINTS))
        shown = heads[::step]
        if heads and shown[-1] is not heads[-1]:
            shown.append(heads[-1])
        # columns, not objects: the chart reads them as they are, and the page loads less
        series = {
            "block": [h[0] for h in shown],
            "t": [h[1] for h in shown],
            "value": [_float(h[2]) for h in shown],
            "hold": [_float(h[3]) for h in shown],
            "lp": [_float(h[4]) for h in shown],
        }
        return {
            "book": self.book.name,
            "numeraire": self.book.numeraire,
            "heads": len(heads),
            "series": series,
            "rebalances": self._rebalance_rows(),
        }

    def _rebalance_rows(self) -> list[dict[str, Any]]:
        keys = self.journal.executed_bundle_keys(self.chain_id, self.book.vault)
        missing = [k for k in keys if k not in self._rebalances]
        if missing:
            for b in self.journal.executed_bundles(
                self.chain_id, self.book.vault, only=[k[0] for k in missing]
            ):
                self._rebalances[(b.intent_id, b.tx_hash, b.block)] = self._rebalance(b)
        return [self._rebalances[k] for k in reversed(keys)]

    def _rebalance(self, b: ExecutedBundle) -> dict[str, Any]:
        plan = b.plan.get("plan", {})
        costs = plan.get("costs", {})
        realized = b.realized
        value_after = realized.get("value_after", {})
        attempts = [
            {"tx_hash": a.tx_hash, "status": a.status, "max_fee": str(a.max_fee), "tip": str(a.tip)}
            for a in self.journal.attempts(b.intent_id)
        ]
        return {
            "intent": b.intent_id,
            "planned_at": b.plan.get("block"),
            "block": b.block,
            "tx_hash": b.tx_hash,
            "reason": b.plan.get("reason"),
            "ops": [{"kind": op.get("kind"), "purpose": op.get("purpose")} for op in plan.get("ops", [])],
            "cost": costs.get("total"),
            "cost_bps": costs.get("bps"),
            "tax_cost": costs.get("tax"),
            "value_before": b.plan.get("total"),
            "value_after_predicted": value_after.get("predicted") or plan.get("value_after"),
            "value_after_realized": value_after.get("realized"),
            "matches": b.matches,
            "gas_used": b.gas_used,
            "fee_wei": str(b.fee_wei),
            "attempts": attempts,  # more than one: replaced with higher fees
            "tax": (realized.get("tax") or {}).get("gains"),
        }

    # --- the keeper ------------------------------------------------------------------------------

    async def keeper_json(self) -> dict[str, Any]:
        """The last heads with their actions and reasons, guard refusals, the breaker and the kill
        switch, the RPC endpoints, gas, alerts and the dashboard's own controls."""
        recent = self.journal.heads(self.chain_id, self.book.vault, limit=200)
        heads = [
            {"block": h.block, "t": h.timestamp, "action": h.action, "reason": h.reason, "tx_hash": h.tx_hash}
            for h in reversed(recent)
        ]
        keeper = self.keeper
        breaker = None
        if keeper is not None:
            breaker = {
                "failures_in_a_row": keeper.breaker.failures,
                "max_failures": keeper.breaker.limit,
                "tripped": keeper.breaker.tripped,
            }
        pause_file = kill_switch.pause_path(self.book_path, self.book)
        try:
            on_chain = await vault_paused(self.reader, self.book.vault)
            keeper_address = (
                keeper.account.address
                if keeper is not None
                else await vault_keeper(self.reader, self.book.vault)
            )
            balance = int(await rpc.result(self.reader, "eth_getBalance", [keeper_address, "latest"]), 16)
            chain_error = None
        except (RpcError, KeeperError) as exc:
            on_chain, keeper_address, balance, chain_error = None, None, None, str(exc)
        budget = self.book.guards.daily_gas_budget_wei
        return {
            "book": self.book.name,
            "running": keeper is not None,
            "heads": heads[:HEADS_SHOWN],
            "refusals": [h for h in heads if h["action"] == "refused"][:HEADS_SHOWN],
            "breaker": breaker,
            "kill_switch": kill_switch.paused(pause_file),
            "vault_paused_on_chain": on_chain,
            "endpoints": self._endpoints(),
            "keeper": keeper_address,
            "gas_balance_wei": None if balance is None else str(balance),
            "gas_today_wei": str(
                self.journal.gas_spent_since(self.chain_id, self.book.vault, midnight_utc(time.time()))
            ),
            "gas_budget_wei": None if budget is None else str(budget),
            "alerts": self.journal.alerts(20),
            "controls": self.journal.controls(20),
            "chain_error": chain_error,
            "can_control": self.token is not None,
        }

    def _endpoints(self) -> list[dict[str, Any]]:
        provider = self.reader.provider
        if not isinstance(provider, EndpointPool):
            return []
        now = time.monotonic()
        return [
            {
                "endpoint": e.label,  # scheme://host:port: never a path, query or user (API keys live there)
                "failures": e.failures,
                "state": "paused" if e.paused_until > now else ("demoted" if e.demoted_until > now else "ok"),
            }
            for e in provider.endpoints
        ]

    # --- controls ------------------------------------------------------------------------------

    async def control(self, action: str, who: str, reason: str, on_chain: bool = False) -> str:
        """Pause (the kill switch on; with `on_chain`, also the vault itself, from the running
        keeper's key) or resume (the kill switch off); journaled with who and why."""
        path = kill_switch.pause_path(self.book_path, self.book)
        if action == "pause":
            kill_switch.pause(path, f"{reason or 'paused from the dashboard'} (dashboard, {who})")
            said = f"paused: {path.name}"
            if on_chain:
                if self.keeper is None:
                    raise BadInput(
                        "the vault can be paused on-chain only from `ammkeeper run`'s dashboard (its key)"
                    )
                k = self.keeper
                tx_hash = await pause_vault(k.reader, k.sender, self.book, k.account, wait=False)
                said += (
                    "; the vault was paused on-chain already"
                    if tx_hash is None
                    else (f"; the vault's pause() sent in {tx_hash} (only its owner can unpause it)")
                )
        else:
            was = kill_switch.resume(path)
            said = "resumed" if was else "was not paused"
        self.journal.add_control(action + (" on-chain" if on_chain else ""), who, reason)
        log.warning("dashboard: %s by %s (%s): %s", action, who, reason or "no reason given", said)
        return said


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data), status=status, content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


def _refuse(status: int, why: str) -> web.Response:
    return _json({"error": why}, status)


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _hostname(host: str) -> str:
    """The name in a Host header, without its port ('[::1]:80' -> '::1')."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def add_routes(app: web.Application, dashboard: Dashboard, bound_host: str) -> None:
    """The pages, their JSON, the static files and the controls, on `app` (served on `bound_host`).

    Served on a loopback address, a request must name a loopback host: a page elsewhere that
    points its own name at 127.0.0.1 (DNS rebinding) reads nothing and sends nothing here."""
    loopback_only = bound_host.strip("[]") in LOOPBACK

    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback_only and _hostname(request.host) not in LOOPBACK:
            return _refuse(403, "refused: this dashboard answers to its loopback address only")
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.middlewares.append(headers)

    def page(name: str) -> Handler:
        async def serve(_: web.Request) -> web.Response:
            html = dashboard_pages.page(
                name, dashboard.book.name, dashboard.token is not None, on_chain=dashboard.keeper is not None
            )
            return web.Response(text=html, content_type="text/html", charset="utf-8")

        return serve

    async def api_book(_: web.Request) -> web.Response:
        try:
            return _json(await dashboard.book_json())
        except (RpcError, KeeperError) as exc:
            return _refuse(503, f"the book cannot be read now: {exc}")

    async def api_history(_: web.Request) -> web.Response:
        return _json(dashboard.history_json())

    async def api_keeper(_: web.Request) -> web.Response:
        return _json(await dashboard.keeper_json())

    def control(action: str) -> Handler:
        async def post(request: web.Request) -> web.Response:
            if dashboard.token is None:
                return _refuse(403, "this dashboard is read-only (started without a token)")
            origin = request.headers.get("Origin")
            own = f"{request.scheme}://{request.host}"
            if origin != own:
                return _refuse(403, "refused: the request does not come from this dashboard's own page")
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), dashboard.token.encode()):
                return _refuse(403, "refused: wrong token")
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = {}
            body = body if isinstance(body, dict) else {}
            reason = str(body.get("reason", ""))[:200]
            who = request.remote or "unknown"
            try:
                said = await dashboard.control(action, who, reason, on_chain=body.get("on_chain") is True)
            except KeeperError as exc:  # the kill switch is on all the same when the vault's pause fails
                return _refuse(409, str(exc))
            return _json({"ok": True, "said": said})

        return post

    async def chart_js(_: web.Request) -> web.StreamResponse:
        if not CHART_JS.is_file():
            return web.Response(status=404, text="chart.js is not installed: run `npm ci`")
        return web.FileResponse(CHART_JS, headers={"Content-Type": "text/javascript"})

    async def root(_: web.Request) -> web.Response:
        raise web.HTTPFound("/book")

    async def no_icon(_: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_get("/", root)
    app.router.add_get("/favicon.ico", no_icon)
    for name in dashboard_pages.PAGES:
        app.router.add_get(f"/{name}", page(name))
    app.router.add_get("/api/book", api_book)
    app.router.add_get("/api/history", api_history)
    app.router.add_get("/api/keeper", api_keeper)
    app.router.add_post("/api/pause", control("pause"))
    app.router.add_post("/api/resume", control("resume"))
    app.router.add_get("/static/chart.js", chart_js)
    app.router.add_static("/static/", dashboard_pages.STATIC, show_index=False)
