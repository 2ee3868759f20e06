"""Named, seeded market regimes for backtests: price paths and base fees, step by step. Pure.

Every regime starts at the book's own prices and moves each token by a multiplier. Volatile
tokens share a common factor (correlation 0.7: crypto moves together); tokens pegged to the
numeraire (priced within 5% of it at the start, and the numeraire itself) stay at 1 unless the
regime depegs one. Paths that must end somewhere (bull, bear) are Brownian bridges: their noise
is drawn twice from the same seed, so the path is streamed, never held in memory, and ends
exactly where the regime says. The base fee wanders around its level (a mean-reverting walk).

| regime | days | what happens |
|---|---|---|
| calm | 365 | no trend, 30% a year volatility, 15 gwei |
| bull | 365 | volatile tokens x2.5 over the year (a bridge), 70% volatility |
| bear | 365 | volatile tokens -75% over the year (a bridge), 80% volatility |
| crash | 30 | 60% volatility; on day 10 volatile tokens lose 50% within 24 hours |
| depeg | 30 | 40% volatility; on day 10 the first pegged token (not the numeraire) falls to 0.90 |
|  |  | over 6 hours, stays 2 days, recovers over 2 days |
| gas_spike | 30 | calm prices; on day 10 the base fee is 300 gwei for 24 hours |
| chop | 90 | mean-reverting around the start (half-life 1 day), 80% volatility |
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace

from bot.core.backtest import Tick

SECONDS_PER_DAY = 86_400
SECONDS_PER_YEAR = 365 * SECONDS_PER_DAY
CORRELATION = 0.7
LOADING = math.sqrt(CORRELATION)  # on the common factor: two tokens' shocks then correlate at 0.7
PEG_TOLERANCE = 0.05
GWEI = 10**9
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Scenario:
    """One regime's parameters (every one may be set: `scenario:bear,days=90,vol=0.6`).

    Attributes:
        days: length; step_s: seconds per step (a block); seed: the noise's seed.
        vol: volatility a year of the volatile tokens (log returns).
        trend: where volatile tokens end, as a multiple of their start (a bridge); None: no target.
        reversion_days: half-life of a pull back to the start price (chop); None: a random walk.
        crash_day / crash: on that day volatile tokens fall by `crash` (0.5: half) within crash_hours.
        depeg_day / depeg_low: on that day the first pegged token falls to depeg_low over 6 hours,
            stays for depeg_days, and recovers over as long.
        gas_gwei: the base fee's level; spike_day / spike_gwei / spike_hours: a gas spike.
    """

    name: str
    description: str
    days: float = 365
    step_s: int = 60
    seed: int = 1
    vol: float = 0.3
    trend: float | None = None
    reversion_days: float | None = None
    crash_day: float | None = None
    crash: float = 0.5
    crash_hours: float = 24
    depeg_day: float | None = None
    depeg_low: float = 0.9
    depeg_days: float = 2
    gas_gwei: float = 15
    spike_day: float | None = None
    spike_gwei: float = 300
    spike_hours: float = 24

    @property
    def steps(self) -> int:
        return int(self.days * SECONDS_PER_DAY // self.step_s) + 1

    def label(self) -> str:
        """The name and every parameter that differs from the regime's defaults."""
        base = SCENARIOS.get(self.name)
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name not in ("name", "description")
            and (base is None or getattr(self, f.name) != getattr(base, f.name))
        ]
        return f"scenario:{','.join([self.name, *changed])}"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("calm", "no trend, 30% volatility a year", vol=0.3),
        Scenario("bull", "volatile tokens x2.5 over a year, 70% volatility", vol=0.7, trend=2.5),
        Scenario("bear", "volatile tokens -75% over a year, 80% volatility", vol=0.8, trend=0.25),
        Scenario(
            "crash", "-50% within a day on day 10 of 30, 60% volatility", days=30, vol=0.6, crash_day=10
        ),
        Scenario(
            "depeg",
            "a stablecoin to 0.90 and back on day 10 of 30, 40% volatility",
            days=30,
            vol=0.4,
            depeg_day=10,
        ),
        Scenario(
            "gas_spike", "300 gwei base fee for a day on day 10 of 30, calm prices", days=30, spike_day=10
        ),
        Scenario(
            "chop",
            "mean-reverting (half-life 1 day), 80% volatility, 90 days",
            days=90,
            vol=0.8,
            reversion_days=1,
        ),
    )
}


def parse(text: str) -> list[Scenario]:
    """`NAME[,key=value…]` (or `all`, every regime with the same overrides) to scenarios.

    Raises:
        ValueError: an unknown regime or parameter, or a value out of range.
    """
    name, *pairs = [part.strip() for part in text.split(",")]
    names = list(SCENARIOS) if name == "all" else [name]
    if name != "all" and name not in SCENARIOS:
        raise ValueError(f"no scenario {name!r}; there are {', '.join(SCENARIOS)} and all")
    kinds = {f.name: f.type for f in fields(Scenario)}
    updates: dict[str, float | int] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        key = key.strip()
        if key in ("name", "description") or key not in kinds or not raw:
            raise ValueError(f"scenario parameter {pair!r}: expected key=value, keys {', '.join(kinds)[12:]}")
        try:
            value: float | int = duration(raw) if key == "step_s" else float(raw)
        except ValueError:
            raise ValueError(f"scenario parameter {key}={raw!r} is not a number") from None
        if key in ("step_s", "seed"):
            value = int(value)
        if not math.isfinite(value) or (value <= 0 and key not in ("seed",)):
            raise ValueError(f"scenario parameter {key}={raw!r} must be a positive number")
        if key == "days" and value > MAX_DAYS:
            raise ValueError(f"scenario parameter days={raw!r}: at most {MAX_DAYS} days")
        if key in ("crash", "depeg_low") and value >= 1:
            raise ValueError(f"scenario parameter {key}={raw!r} is a share below 1")
        updates[key] = value
    out = [replace(SCENARIOS[n], **updates) for n in names]  # type: ignore[arg-type]
    for scenario in out:
        if scenario.steps < 2:
            raise ValueError(
                f"scenario {scenario.name}: {scenario.days} days of {scenario.step_s} s steps is one step"
            )
    return out


def duration(text: str) -> int:
    """'60', '60s', '5m', '1h' to seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    text = text.strip()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def pegged(start_prices: Sequence[float], numeraire: int) -> list[bool]:
    """Which tokens hold a peg to the numeraire (the numeraire itself, and any within 5% of 1)."""
    return [i == numeraire or abs(p - 1) <= PEG_TOLERANCE for i, p in enumerate(start_prices)]


def ticks(
    scenario: Scenario,
    start_prices: Sequence[float],
    pegs: Sequence[bool],
    start_timestamp: int,
    numeraire: int,
) -> Iterator[Tick]:
    """The regime's ticks: prices (numeraire per whole token) and base fees, from `start_prices`."""
    dt = scenario.step_s / SECONDS_PER_YEAR
    sigma = scenario.vol * math.sqrt(dt)
    steps = scenario.steps
    volatile = [i for i, peg in enumerate(pegs) if not peg]
    depegged = next((i for i, peg in enumerate(pegs) if peg and i != numeraire), None)
    # a bridge needs each token's noise at the end: one pass of the same draws first
    theta = _reversion(scenario)
    ends = (
        _noise_ends(scenario, len(volatile), steps, theta)
        if scenario.trend is not None
        else [0.0] * len(volatile)
    )
    target = math.log(scenario.trend) if scenario.trend is not None else 0.0
    rng = random.Random(scenario.seed)
    logs = [0.0] * len(volatile)  # noise so far, per volatile token
    gas_log = 0.0
    gas_rng = random.Random(scenario.seed + 1)
    for step in range(steps):
        if step:
            common = rng.gauss(0.0, 1.0)
            for j in range(len(volatile)):
                shock = LOADING * common + math.sqrt(1 - CORRELATION) * rng.gauss(0.0, 1.0)
                logs[j] += sigma * shock - theta * logs[j]
            gas_log += -0.01 * gas_log + 0.02 * gas_rng.gauss(0.0, 1.0)
        t = step / (steps - 1)
        day = step * scenario.step_s / SECONDS_PER_DAY
        shift = _crash_shift(scenario, day)
        prices = list(start_prices)
        for j, i in enumerate(volatile):
            bridge = t * (target - ends[j]) if scenario.trend is not None else 0.0
            prices[i] = start_prices[i] * math.exp(logs[j] + bridge + shift)
        if depegged is not None:
            prices[depegged] = start_prices[depegged] * _depeg(scenario, day)
        gwei = scenario.gas_gwei * math.exp(gas_log)
        if scenario.spike_day is not None and 0 <= day - scenario.spike_day < scenario.spike_hours / 24:
            gwei = scenario.spike_gwei
        yield Tick(start_timestamp + step * scenario.step_s, int(gwei * GWEI), tuple(prices))


def _reversion(scenario: Scenario) -> float:
    """The share of the distance from the start pulled back each step (0: a random walk)."""
    if not scenario.reversion_days:
        return 0.0
    return math.log(2) / scenario.reversion_days * scenario.step_s / SECONDS_PER_DAY


def _noise_ends(scenario: Scenario, tokens: int, steps: int, theta: float) -> list[float]:
    """Where each volatile token's noise ends (the same draws `ticks` makes)."""
    sigma = scenario.vol * math.sqrt(scenario.step_s / SECONDS_PER_YEAR)
    rng = random.Random(scenario.seed)
    logs = [0.0] * tokens
    for _ in range(steps - 1):
        common = rng.gauss(0.0, 1.0)
        for j in range(tokens):
            shock = LOADING * common + math.sqrt(1 - CORRELATION) * rng.gauss(0.0, 1.0)
            logs[j] += sigma * shock - theta * logs[j]
    return logs


def _crash_shift(scenario: Scenario, day: float) -> float:
    """The crash's part of the log price on `day`: 0 before, falling linearly, log(1-crash) after."""
    if scenario.crash_day is None or day <= scenario.crash_day:
        return 0.0
    done = min(1.0, (day - scenario.crash_day) * 24 / scenario.crash_hours)
    return done * math.log(1 - min(scenario.crash, 0.99))


def _depeg(scenario: Scenario, day: float) -> float:
    """The depegged token's price: 1, down to depeg_low over 6 hours, held, then back over depeg_days."""
    if scenario.depeg_day is None or day <= scenario.depeg_day:
        return 1.0
    low, since = scenario.depeg_low, day - scenario.depeg_day
    fall = 0.25
    if since < fall:
        return 1 - (1 - low) * since / fall
    if since < fall + scenario.depeg_days:
        return low
    back = (since - fall - scenario.depeg_days) / scenario.depeg_days
    return low + (1 - low) * min(1.0, back)
