"""The market regimes: seeded, documented, and each does what its table row says."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from bot.core import scenarios
from bot.core.scenarios import SCENARIOS, Scenario

START = [1.0, 3_000.0, 1.0003, 60_000.0]  # USDC (numeraire), WETH, DAI (pegged), WBTC
NUMERAIRE = 0


def ticks(scenario: Scenario) -> list[scenarios.Tick]:
    return list(
        scenarios.ticks(scenario, START, scenarios.pegged(START, NUMERAIRE), 1_700_000_000, NUMERAIRE)
    )


def short(name: str, **changes: float) -> Scenario:
    return replace(SCENARIOS[name], step_s=600, **changes)  # type: ignore[arg-type]


def test_every_regime_runs_seeded_and_the_same_twice() -> None:
    for name in SCENARIOS:
        scenario = short(name, days=12)
        first, again = ticks(scenario), ticks(scenario)
        assert first == again
        assert len(first) == scenario.steps == 12 * 144 + 1
        assert first[0].prices == tuple(START)  # every regime starts at the book's prices
        assert [t.timestamp - first[0].timestamp for t in first[:3]] == [0, 600, 1200]
        assert ticks(replace(scenario, seed=2)) != first


def test_pegged_tokens_hold_their_peg_and_volatile_ones_move_together() -> None:
    path = ticks(short("calm", days=30))
    assert all(t.prices[0] == 1.0 and t.prices[2] == START[2] for t in path)
    weth = [math.log(t.prices[1]) for t in path]
    wbtc = [math.log(t.prices[3]) for t in path]
    dw = [b - a for a, b in itertools.pairwise(weth)]
    db = [b - a for a, b in itertools.pairwise(wbtc)]
    mean_w, mean_b = sum(dw) / len(dw), sum(db) / len(db)
    cov = sum((x - mean_w) * (y - mean_b) for x, y in zip(dw, db, strict=True))
    var_w = sum((x - mean_w) ** 2 for x in dw)
    var_b = sum((y - mean_b) ** 2 for y in db)
    assert 0.6 < cov / math.sqrt(var_w * var_b) < 0.8  # CORRELATION = 0.7
    yearly = math.sqrt(var_w / len(dw) * 365 * 144)
    assert 0.25 < yearly < 0.35  # calm: 30% a year


@pytest.mark.parametrize(("name", "end"), [("bear", 0.25), ("bull", 2.5)])
def test_bear_and_bull_end_exactly_where_they_say(name: str, end: float) -> None:
    path = ticks(short(name, days=20))
    assert path[-1].prices[1] == pytest.approx(START[1] * end, rel=1e-9)
    assert path[-1].prices[3] == pytest.approx(START[3] * end, rel=1e-9)
    assert path[-1].prices[2] == START[2]


def test_a_crash_halves_volatile_tokens_within_its_day() -> None:
    scenario = short("crash", days=4, crash_day=1, vol=1e-9)
    path = ticks(scenario)
    day = 144  # steps of 10 minutes
    assert path[day].prices[1] == pytest.approx(START[1], rel=1e-6)
    assert path[day + day // 2].prices[1] == pytest.approx(START[1] * math.sqrt(0.5), rel=1e-3)
    assert path[2 * day + 1].prices[1] == pytest.approx(START[1] * 0.5, rel=1e-6)
    assert path[-1].prices[2] == START[2]


def test_a_depeg_falls_to_090_and_comes_back() -> None:
    path = ticks(short("depeg", days=8, depeg_day=1))
    day = 144
    assert path[day].prices[2] == START[2]
    low = [t.prices[2] / START[2] for t in path[day + 40 : 3 * day + 30]]  # 6 h down, 2 days low
    assert min(low) == pytest.approx(0.9) and max(low) == pytest.approx(0.9)
    assert path[-1].prices[2] == pytest.approx(START[2])
    assert all(t.prices[0] == 1.0 for t in path)  # never the numeraire


def test_a_gas_spike_is_300_gwei_for_a_day() -> None:
    path = ticks(short("gas_spike", days=3, spike_day=1))
    fees = [t.base_fee_wei / 1e9 for t in path]
    assert set(fees[145:288]) == {300.0}
    assert max(fees[:144]) < 30 and max(fees[300:]) < 30


def test_chop_reverts_to_the_start() -> None:
    def pull(scenario: Scenario) -> float:
        """The regression of each step's move on the distance from the start: -theta for chop."""
        logs = [math.log(t.prices[1] / START[1]) for t in ticks(scenario)]
        moves = [b - a for a, b in itertools.pairwise(logs)]
        return sum(x * d for x, d in zip(logs, moves, strict=False)) / sum(x * x for x in logs[:-1])

    theta = math.log(2) / 144  # a half-life of one day in 10-minute steps
    assert -2 * theta < pull(short("chop", days=90)) < -theta / 2
    assert abs(pull(short("chop", days=90, reversion_days=1e12))) < theta / 3


def test_parse_takes_parameters_and_names_what_is_wrong() -> None:
    (bear,) = scenarios.parse("bear,days=30,seed=4,step_s=5m,vol=0.5")
    assert (bear.days, bear.seed, bear.step_s, bear.vol, bear.trend) == (30, 4, 300, 0.5, 0.25)
    assert bear.label() == "scenario:bear,days=30.0,step_s=300,seed=4,vol=0.5"
    assert [s.name for s in scenarios.parse("all,days=2")] == list(SCENARIOS)
    for bad, says in [
        ("boom", "no scenario 'boom'"),
        ("bear,days", "expected key=value"),
        ("bear,colour=3", "expected key=value"),
        ("bear,days=x", "not a number"),
        ("bear,days=-1", "positive"),
        ("bear,days=nan", "positive"),
        ("bear,days=0.0001", "one step"),
    ]:
        with pytest.raises(ValueError, match=says):
            scenarios.parse(bad)
