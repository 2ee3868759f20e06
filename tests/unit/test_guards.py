"""The keeper's guards, kill switch, metrics and logs (pure parts and files)."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.chain import endpoints
from bot.core.book import Guards
from bot.core.guards import GUARD_NAMES, CircuitBreaker, Spending, check_plan, twap_deviation
from bot.core.pricing import Price
from bot.ops import logs
from bot.ops.kill_switch import pause, paused, resume
from bot.ops.metrics import Health, Registry


def _price(token: str, value: Fraction, kind: str = "spot") -> Price:
    return Price(token, value, ("PAIR",), 1, kind)


def _twap(token: str, value: Fraction) -> Price:
    return _price(token, value, "twap 1-151")


def test_twap_deviation_names_the_furthest_token_and_skips_unknown_ones() -> None:
    spot = {"A": _price("A", Fraction(110)), "B": _price("B", Fraction(97)), "LP": _price("LP", Fraction(1))}
    twap = {"A": _twap("A", Fraction(100)), "B": _twap("B", Fraction(100))}
    assert twap_deviation(spot, twap, {"A", "B", "LP"}) == ("A", Fraction(1, 10))
    assert twap_deviation(spot, twap, {"B"}) == ("B", Fraction(3, 100))
    assert twap_deviation(spot, twap, {"LP"}) is None


def _plan(tokens: set[str], traded: int = 1000) -> Any:
    """What check_plan reads of a plan: the tokens its ops move and the value traded."""
    op = SimpleNamespace(spent={t: 1 for t in tokens}, received={})
    return SimpleNamespace(ops=[op], costs=SimpleNamespace(traded_value=Fraction(traded)))


SPENDING = Spending(next_base_fee=10**9, gas_cost=10**15, spent_today=0, keeper_balance=10**18)


def test_a_traded_token_without_a_twap_window_is_refused_never_priced_by_spot() -> None:
    """A crash in the block before the plan: with no window the guard cannot tell, so it refuses."""
    spot = {"WETH": _price("WETH", Fraction(1500)), "USDC": Price("USDC", Fraction(1), (), 1)}
    no_window = {"WETH": _price("WETH", Fraction(1500), "spot (no TWAP window)"), "USDC": spot["USDC"]}
    plan = _plan({"WETH", "USDC"})
    refusal = check_plan(Guards(), plan, spot=spot, twap=no_window, spending=SPENDING, names={"WETH": "WETH"})
    assert refusal is not None and refusal.guard == "twap_deviation"
    assert "no TWAP for WETH" in refusal.reason
    # the numeraire needs none; a real window passes; a person may override by name
    window = {"WETH": _twap("WETH", Fraction(1510)), "USDC": spot["USDC"]}
    assert check_plan(Guards(), plan, spot=spot, twap=window, spending=SPENDING) is None
    passed = check_plan(
        Guards(), plan, spot=spot, twap=no_window, spending=SPENDING, overrides=frozenset({"twap_deviation"})
    )
    assert passed is None
    # a guard turned off in the book does not look at all
    off = Guards(max_twap_deviation=None)
    assert check_plan(off, plan, spot=spot, twap=no_window, spending=SPENDING) is None


def test_overrides_pass_only_the_named_guard() -> None:
    guards = Guards(max_bundle_value=Decimal(100), max_gas_price_gwei=Decimal("0.5"))
    spot = {"A": _price("A", Fraction(1))}
    twap = {"A": _twap("A", Fraction(1))}
    plan = _plan({"A"}, traded=1000)
    first = check_plan(guards, plan, spot=spot, twap=twap, spending=SPENDING)
    assert first is not None and first.guard == "gas_price"
    second = check_plan(
        guards, plan, spot=spot, twap=twap, spending=SPENDING, overrides=frozenset({"gas_price"})
    )
    assert second is not None and second.guard == "bundle_value"
    both = frozenset({"gas_price", "bundle_value"})
    assert check_plan(guards, plan, spot=spot, twap=twap, spending=SPENDING, overrides=both) is None
    poor = Spending(next_base_fee=1, gas_cost=10**18, spent_today=0, keeper_balance=1)
    broke = check_plan(guards, plan, spot=spot, twap=twap, spending=poor, overrides=frozenset(GUARD_NAMES))
    assert broke is not None and broke.guard == "gas_balance"  # not overridable: it could not be paid
    with pytest.raises(ValueError, match="no such guard"):
        check_plan(guards, plan, spot=spot, twap=twap, spending=SPENDING, overrides=frozenset({"all"}))


def test_the_breaker_trips_once_at_its_limit_and_resets_on_success() -> None:
    breaker = CircuitBreaker(3)
    assert [breaker.failed(), breaker.failed()] == [False, False] and not breaker.tripped
    breaker.succeeded()
    assert [breaker.failed(), breaker.failed(), breaker.failed()] == [False, False, True]
    assert breaker.tripped and breaker.failed() is False  # trips once, stays tripped


def test_guard_units() -> None:
    guards = Guards(daily_gas_budget=Decimal("0.05"), max_gas_price_gwei=Decimal("1.5"))
    assert guards.daily_gas_budget_wei == 5 * 10**16 and guards.max_gas_price_wei == 1_500_000_000
    assert Spending(1, 2, 3, 4).gas_cost == 2


def test_the_kill_switch_file_round_trips_its_reason(tmp_path: Path) -> None:
    flag = tmp_path / "book.paused"
    assert paused(flag) is None and resume(flag) is False
    pause(flag, "rotating the key")
    reason = paused(flag)
    assert reason is not None and reason.startswith("rotating the key (since ")
    flag.write_text("")  # touched by hand
    assert paused(flag) == "paused"
    assert resume(flag) is True and paused(flag) is None


def test_metrics_render_prometheus_text() -> None:
    registry = Registry()
    registry.gauge("sleeve_drift", "drift").set(-0.0125, sleeve='W"ETH/USDC')
    heads = registry.counter("heads", "heads")
    heads.inc(action="hold")
    heads.inc(action="hold")
    text = registry.render()
    assert "# TYPE ammkeeper_sleeve_drift gauge" in text
    assert 'ammkeeper_sleeve_drift{sleeve="W\\"ETH/USDC"} -0.0125' in text
    assert "# TYPE ammkeeper_heads_total counter" in text and 'ammkeeper_heads_total{action="hold"} 2' in text


def test_health_is_stale_without_recent_heads() -> None:
    now = [100.0]
    health = Health(stale_after_s=30, clock=lambda: now[0])
    assert health.report()[0] is False and health.report()[1]["status"] == "starting"
    health.processed(7)
    now[0] = 120.0
    assert health.report() == (True, {"status": "ok", "head": 7, "seconds_since_head": 20.0, "paused": None})
    now[0] = 131.0
    assert health.report()[1]["status"] == "stale" and health.report()[0] is False


def test_json_logs_are_one_object_per_line_and_scrubbed() -> None:
    endpoints.register("https://rpc.example/v3/LOGSECRET")
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.setup("json", stream=stream)
    try:
        logging.getLogger("bot.keeper.step").info(
            "failed on %s",
            "https://rpc.example/v3/LOGSECRET",
            extra={"fields": {"head": 5, "action": "hold"}},
        )
        try:
            raise ValueError("https://rpc.example/v3/LOGSECRET refused")
        except ValueError:
            logging.getLogger("bot.keeper.step").exception("boom")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["head"] == 5 and lines[0]["action"] == "hold" and lines[0]["level"] == "info"
    assert "exc" in lines[1] and "LOGSECRET" not in stream.getvalue()
