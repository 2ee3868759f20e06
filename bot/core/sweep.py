"""A sweep file: a grid of book settings (and, optionally, histories). Pure.

```toml
histories = ["scenario:calm,days=30", "scenario:bear,days=30"]   # or give --history

[grid]
"strategy.kind" = ["threshold", "calendar"]
"strategy.every" = ["1d"]            # only where the kind takes it; other points skip the key
"policy.band" = [0.01, 0.02, 0.05]
"policy.deadband" = [0.001, 0.005]
"policy.min_trade_value" = [0, 100]
```

Every point of the grid's cartesian product is a list of `--set` settings, `strategy.kind` first
(it starts the strategy table afresh). A key a point's strategy does not take is left out of that
point rather than making it invalid; points that give the same settings are run once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.errors import BadInput

STRATEGY_KEYS = {
    "threshold": set(),
    "calendar": {"every"},
    "hybrid": {"every"},
    "volatility": {"reference_vol", "max_widen"},
    "il_guard": {"max_il", "max_price_move", "keep", "to", "then"},
    "partial": {"fraction", "then"},
}


@dataclass(frozen=True, slots=True)
class Sweep:
    """The grid's keys (in order), its points (each a key -> value mapping) and its histories."""

    keys: tuple[str, ...]
    points: tuple[Mapping[str, Any], ...]
    histories: tuple[str, ...]


def toml_value(value: Any) -> str:
    """A grid value as TOML text for a setting."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def settings(point: Mapping[str, Any]) -> tuple[str, ...]:
    """A point as `--set` settings, `strategy.kind` first."""
    keys = sorted(point, key=lambda k: k != "strategy.kind")
    return tuple(f"{k}={toml_value(point[k])}" for k in keys)


def parse(raw: Mapping[str, Any], source: str = "sweep") -> Sweep:
    """Validate a parsed sweep file.

    Raises:
        BadInput: no grid, a key whose values are not a non-empty list, histories not strings.
    """
    unknown = set(raw) - {"grid", "histories"}
    if unknown:
        raise BadInput(f"{source}: unknown key {sorted(unknown)[0]!r} (a sweep has [grid] and histories)")
    grid = raw.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise BadInput(f'{source}: no [grid] table (e.g. "policy.band" = [0.01, 0.02])')
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise BadInput(f"{source}: grid key {key!r} needs a non-empty list of values")
        if any(isinstance(v, (dict, list)) for v in values):
            raise BadInput(f"{source}: grid key {key!r}: values are numbers, strings or booleans")
    histories = raw.get("histories", [])
    if not isinstance(histories, list) or not all(isinstance(h, str) for h in histories):
        raise BadInput(f'{source}: histories is a list of strings like "scenario:calm"')
    keys = tuple(grid)
    points: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    for values in itertools.product(*(grid[k] for k in keys)):
        point = _applicable(dict(zip(keys, values, strict=True)))
        key = settings(point)
        if key not in seen:
            seen.add(key)
            points.append(point)
    return Sweep(keys, tuple(points), tuple(histories))


def _applicable(point: dict[str, Any]) -> dict[str, Any]:
    """The point without strategy keys its strategy kind does not take."""
    kind = point.get("strategy.kind")
    if kind not in STRATEGY_KEYS:
        return point
    takes = STRATEGY_KEYS[kind]
    return {
        k: v
        for k, v in point.items()
        if not k.startswith("strategy.") or k == "strategy.kind" or k[9:] in takes
    }


def label(point: Mapping[str, Any]) -> str:
    """A point's settings, short: `kind=calendar every=1d band=0.02`."""
    return " ".join(f"{k.rsplit('.', 1)[-1]}={point[k]}" for k in point)


def heat(rows: Sequence[Mapping[str, Any]], x: str, y: str) -> dict[str, dict[tuple[str, str], float]]:
    """Per history, the best excess over holding (a share of the start) at each (x, y) value."""
    out: dict[str, dict[tuple[str, str], float]] = {}
    for row in rows:
        point = row["point"]
        if x not in point or y not in point:
            continue
        cell = (str(point[x]), str(point[y]))
        grid = out.setdefault(row["history"], {})
        value = row["excess"]["vs_hold_pct"]
        grid[cell] = max(grid.get(cell, value), value)
    return out
